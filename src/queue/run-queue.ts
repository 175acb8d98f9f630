import { EventEmitter } from 'eventemitter3';
import { Job, Queue, QueueEvents } from 'bullmq';
import { debuglog } from 'node:util';
import { SandboxJobCancelledError, SandboxJobError, SandboxOptionsError } from '../errors/sandbox-error.js';
import { cancelKey, checkQueueName, connectionOptions, decodeError, type RedisConnection } from './connection.js';
import { validateJob, type RunJob, type RunJobResult } from './job.js';
import type { RunProgress } from './job-runner.js';

const debug = debuglog('sandkit');
/** For promises that settle their own failures (check() logs and carries on). */
const ignore = (): void => {};

/** Options of {@link RunQueue}. */
export interface RunQueueOptions {
  /** Redis: a `redis://` URL or what BullMQ takes (ioredis options or client). */
  connection: RedisConnection;
  /** The queue's name, shared with its workers. */
  name: string;
  /** BullMQ's key prefix. @defaultValue 'bull' */
  prefix?: string;
  /** How often pending handles look at their job, besides the queue's events (which a Redis restart may drop), in ms. @defaultValue 2000 */
  checkIntervalMs?: number;
}

/** Options of {@link RunQueue.submit}. */
export interface SubmitOptions {
  /** The job's id: submitting the same id twice runs it once (BullMQ keeps the first). @defaultValue a new one */
  jobId?: string;
  /** BullMQ priority: 1 is the highest; without one, jobs run in order. */
  priority?: number;
}

/** Events of {@link RunHandle}. */
export interface RunHandleEvents {
  /** A step or test finished on the worker. */
  progress: [RunProgress];
}

interface Settle {
  resolve: (r: RunJobResult) => void;
  reject: (e: Error) => void;
}

/**
 * A submitted job: its `result()`, its `progress` events, and `cancel()`.
 */
export class RunHandle extends EventEmitter<RunHandleEvents> {
  private readonly settled: Promise<RunJobResult>;
  /** @internal */
  settle!: Settle;
  /** @internal */
  done = false;
  /** @internal set while cancel() removes the job: its disappearance is the cancellation. */
  removing = false;

  /** @internal */
  constructor(
    /** The queue's id of the job. */
    readonly id: string,
    private readonly owner: RunQueue
  ) {
    super();
    this.settled = new Promise<RunJobResult>((resolve, reject) => {
      this.settle = {
        resolve: (r) => {
          this.done = true;
          resolve(r);
        },
        reject: (e) => {
          this.done = true;
          reject(e);
        },
      };
    });
    // An unawaited result() must not crash the process when the job fails.
    this.settled.catch(() => {});
  }

  /**
   * The job's result, once a worker completed it: every step's and test's SpawnResult, the
   * verdict, the worker. Exactly one per job, however many workers were lost running it.
   * @throws {SandboxJobError} `'invalid'` payload (never retried) or `'failed'` (the worker could not run it).
   * @throws {SandboxJobCancelledError} after {@link cancel}.
   */
  result(): Promise<RunJobResult> {
    return this.settled;
  }

  /**
   * Cancels the job: a waiting one is removed, a running one has its sandbox killed by its
   * worker. `result()` then rejects with `SandboxJobCancelledError`. A job already finished keeps
   * its result.
   */
  cancel(): Promise<void> {
    return this.owner.cancel(this);
  }
}

/**
 * The producer's side of a queue of sandboxed jobs (BullMQ on Redis). Jobs are checked here
 * and again by the worker that takes them.
 * @example const queue = new RunQueue({ connection: 'redis://127.0.0.1:6379', name: 'runs' }); const r = await (await queue.submit({ steps: [{ cmd: ['echo', 'hi'] }] })).result();
 */
export class RunQueue {
  /** The queue's name. */
  readonly name: string;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly prefix: string;
  private readonly handles = new Map<string, RunHandle>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  private closed = false;

  constructor(options: RunQueueOptions) {
    if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
    this.name = checkQueueName(options.name);
    this.prefix = options.prefix ?? 'bull';
    const connection = connectionOptions(options.connection);
    this.queue = new Queue(this.name, {
      connection,
      prefix: this.prefix,
      defaultJobOptions: { attempts: 1, removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 24 * 3600 } },
    });
    this.events = new QueueEvents(this.name, {
      connection: connectionOptions(options.connection),
      prefix: this.prefix,
    });
    this.queue.on('error', (err) => debug('queue %s: %s', this.name, err.message));
    this.events.on('error', (err) => debug('queue events %s: %s', this.name, err.message));
    this.events.on('progress', ({ jobId, data }) => {
      if (typeof data === 'object' && data !== null)
        this.handles.get(jobId)?.emit('progress', data as unknown as RunProgress);
    });
    this.events.on('completed', ({ jobId }) => {
      this.check(jobId).catch(ignore);
    });
    this.events.on('failed', ({ jobId }) => {
      this.check(jobId).catch(ignore);
    });
    this.events.on('removed', ({ jobId }) => {
      this.check(jobId).catch(ignore);
    });
    const interval = options.checkIntervalMs ?? 2000;
    this.timer = setInterval(() => {
      this.checkAll().catch(ignore);
    }, interval);
  }

  /**
   * Checks a job and adds it to the queue.
   * @throws {SandboxJobError} `'invalid'` with `field` naming what was wrong; nothing is queued.
   */
  async submit(job: RunJob, options: SubmitOptions = {}): Promise<RunHandle> {
    validateJob(job);
    if (this.closed) throw new SandboxOptionsError('submit', 'the queue is closed');
    if (
      options.jobId !== undefined &&
      (typeof options.jobId !== 'string' ||
        !/^[A-Za-z0-9_.:-]{1,200}$/.test(options.jobId) ||
        /^\d+$/.test(options.jobId))
    )
      throw new SandboxOptionsError('jobId', 'expected letters, digits, _ . : - (not only digits)');
    await this.events.waitUntilReady();
    const added = await this.queue.add('run', job, {
      ...(options.jobId !== undefined && { jobId: options.jobId }),
      ...(options.priority !== undefined && { priority: options.priority }),
    });
    return this.handle(String(added.id));
  }

  /** A handle on a job submitted earlier (by id), e.g. by another process. */
  handle(jobId: string): RunHandle {
    let handle = this.handles.get(jobId);
    if (!handle) {
      handle = new RunHandle(jobId, this);
      this.handles.set(jobId, handle);
      this.check(jobId).catch(ignore);
    }
    return handle;
  }

  /** Counts of the queue's jobs by state. */
  async counts(): Promise<Record<'waiting' | 'active' | 'completed' | 'failed' | 'delayed', number>> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      delayed: c.delayed ?? 0,
    };
  }

  /** Closes the connections; pending handles stay unsettled. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  /** @internal */
  async cancel(handle: RunHandle): Promise<void> {
    if (handle.done) return;
    const client = await this.queue.client;
    const key = cancelKey(this.prefix, this.name, handle.id);
    // The key first: a job that turns active meanwhile is still seen by its worker.
    await client.set(key, '1', 'EX', 7 * 24 * 3600);
    const job = await Job.fromId(this.queue, handle.id);
    const state = job ? await job.getState() : 'unknown';
    if (
      job &&
      (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children')
    ) {
      handle.removing = true;
      try {
        await job.remove();
        await client.del(key);
        this.finish(handle, undefined, new SandboxJobCancelledError(handle.id, false));
        return;
      } catch (err) {
        debug('cancel %s: not removed (%s): its worker kills it', handle.id, (err as Error).message);
      } finally {
        handle.removing = false;
      }
    }
    await this.check(handle.id);
  }

  private finish(handle: RunHandle, result: RunJobResult | undefined, error?: Error): void {
    if (handle.done) return;
    this.handles.delete(handle.id);
    if (error) handle.settle.reject(error);
    else handle.settle.resolve(result!);
  }

  /** Settles a handle from its job's state: completed → its return value; failed → the typed error. */
  private async check(jobId: string): Promise<void> {
    const handle = this.handles.get(jobId);
    if (!handle || handle.done) return;
    try {
      const job = await Job.fromId<unknown, RunJobResult>(this.queue, jobId);
      if (!job) {
        if (handle.removing) return; // cancel() settles it
        this.finish(
          handle,
          undefined,
          new SandboxJobError('failed', `job ${jobId}: not in the queue (removed, or Redis lost its data)`, { jobId })
        );
        return;
      }
      if (job.finishedOn && job.returnvalue && !job.failedReason) this.finish(handle, job.returnvalue);
      else if (job.finishedOn && job.failedReason && (await job.getState()) === 'failed')
        this.finish(handle, undefined, this.errorOf(jobId, job.failedReason));
    } catch (err) {
      debug('check %s: %s', jobId, (err as Error).message);
    }
  }

  private async checkAll(): Promise<void> {
    if (this.checking || this.handles.size === 0) return;
    this.checking = true;
    try {
      for (const id of [...this.handles.keys()]) await this.check(id);
    } finally {
      this.checking = false;
    }
  }

  private errorOf(jobId: string, failedReason: string): Error {
    const wire = decodeError(failedReason);
    if (wire.kind === 'cancelled') return new SandboxJobCancelledError(jobId, true);
    return new SandboxJobError(wire.kind, `job ${jobId}: ${wire.message}`, {
      jobId,
      ...(wire.field && { field: wire.field }),
    });
  }
}

import { EventEmitter } from 'eventemitter3';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { debuglog } from 'node:util';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { SandboxError, SandboxJobError, SandboxOptionsError } from '../errors/sandbox-error.js';
import { Image } from '../images/image.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SandboxPool } from '../pool/sandbox-pool.js';
import { parseBytes, type ByteSize } from '../limits/units.js';
import { defaultStateDir } from '../platform/state-dir.js';
import { sweepStaleSessions } from '../platform/session.js';
import { cancelKey, checkQueueName, connectionOptions, encodeError, type RedisConnection } from './connection.js';
import { validateJob, type RunJob, type RunJobResult, type WorkerInfo } from './job.js';
import { resolveJobImage } from './job-image.js';
import { runJob, type RunProgress } from './job-runner.js';

const debug = debuglog('sandkit');
/** For promises that report their own failures. */
const ignore = (): void => {};

/** Options of {@link RunWorker}. */
export interface RunWorkerOptions {
  /** Redis: a `redis://` URL or what BullMQ takes (ioredis options or client). */
  connection: RedisConnection;
  /** The queue's name (as the producer's {@link RunQueue}). */
  name: string;
  /**
   * Jobs run at once. @defaultValue the smaller of the CPU count and how many `jobMemory`
   * fit in three quarters of the machine's memory (at least 1)
   */
  concurrency?: number;
  /**
   * Sandboxes of the host image kept started ahead of jobs (a `SandboxPool` of this size), for
   * the steps of jobs that name no image and no limits. Tests always start from the job's
   * snapshot (with more than one, the next one's sandbox starts while one runs).
   * @defaultValue 0: each job starts its own
   */
  pool?: number;
  /**
   * Memory one job may use (each of its sandboxes): the bound the default concurrency is figured
   * from. A job asking for more (`limits.memory` of the job or a step) is refused as invalid.
   * @defaultValue '2G', a sandbox's default memory limit
   */
  jobMemory?: ByteSize;
  /** The worker's id in results. @defaultValue `hostname:pid` */
  id?: string;
  /** State directory of the sandboxes (swept of crashed sessions at start). @defaultValue see `defaultStateDir()` */
  stateDir?: string;
  /** Output kept per stdout/stderr of each program, and per job. @defaultValue 64 KiB and 4 MiB */
  outputCap?: { perSpawnBytes?: number; totalBytes?: number };
  /**
   * How long a job's lock lasts without renewal, in ms: a worker lost mid-job (kill -9, machine
   * gone) frees its jobs after at most this plus `stalledIntervalMs`. @defaultValue 30000
   */
  lockDurationMs?: number;
  /** How often the worker looks for stalled jobs (those whose worker was lost), in ms. @defaultValue 30000 */
  stalledIntervalMs?: number;
  /** Times a job may be lost with its worker before it fails. @defaultValue 2 */
  maxStalledCount?: number;
  /** BullMQ's key prefix. @defaultValue 'bull' */
  prefix?: string;
  /**
   * Where the host cannot enforce a limit with cgroups (rootless without delegation): `'error'`
   * fails the job; `'rlimit'` falls back to rlimits (see `SandboxOptions.limitFallback`). @defaultValue 'error'
   */
  limitFallback?: 'error' | 'rlimit';
  /** How a job's `image` becomes an Image. @defaultValue the store's image of that name or id, the host image without one */
  images?: (ref: string | undefined) => Promise<Image>;
}

/** Events of {@link RunWorker}. */
export interface RunWorkerEvents {
  /** A job was taken (`attempt` > 1: an earlier worker was lost running it). */
  started: [{ jobId: string; attempt: number }];
  /** A step or test finished. */
  progress: [{ jobId: string } & RunProgress];
  /** A job completed with a result. */
  completed: [{ jobId: string; verdict: string; durationMs: number }];
  /** A job failed: invalid, cancelled, or the worker could not run it. */
  failed: [{ jobId: string; reason: string }];
  /** Something went wrong with Redis or the queue (the worker retries). */
  warning: [{ message: string }];
}

/** Bytes of one job's memory unless given: a sandbox's default limit. */
const DEFAULT_JOB_MEMORY = 2 * 2 ** 30;

/** The default concurrency: CPUs, bounded by how many jobs' memory fits in 3/4 of the machine's. */
export function defaultConcurrency(jobMemoryBytes = DEFAULT_JOB_MEMORY): number {
  return Math.max(1, Math.min(availableParallelism(), Math.floor((totalmem() * 0.75) / jobMemoryBytes)));
}

/**
 * Takes jobs from a queue and runs them in sandboxes: a worker process of a judge or
 * code-runner cluster. Start as many as the machines have room for, on one Redis. A worker
 * lost mid-job (kill -9) loses nothing: after its lock expires another worker runs the job from
 * the start, and only the attempt that completes reports a result.
 * @example const worker = new RunWorker({ connection: 'redis://127.0.0.1:6379', name: 'runs' }); await worker.run();
 */
export class RunWorker extends EventEmitter<RunWorkerEvents> {
  /** Who this worker is, as results name it. */
  readonly info: WorkerInfo;
  /** Jobs run at once. */
  readonly concurrency: number;
  private readonly options: RunWorkerOptions;
  private readonly jobMemory: number;
  private readonly explicitJobMemory: boolean;
  private readonly outputCap: { perSpawnBytes: number; totalBytes: number };
  private readonly prefix: string;
  private readonly images = new Map<string, Promise<Image>>();
  private readonly active = new Map<string, AbortController>();
  private worker: Worker | undefined;
  private hostPool: SandboxPool | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private lastGc = 0;
  private closing: Promise<void> | undefined;

  constructor(options: RunWorkerOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
    connectionOptions(options.connection);
    checkQueueName(options.name);
    this.options = options;
    this.explicitJobMemory = options.jobMemory !== undefined;
    this.jobMemory = options.jobMemory === undefined ? DEFAULT_JOB_MEMORY : parseBytes('jobMemory', options.jobMemory);
    if (options.concurrency !== undefined && !(Number.isInteger(options.concurrency) && options.concurrency >= 1))
      throw new SandboxOptionsError(
        'concurrency',
        `expected a whole number of at least 1, got ${String(options.concurrency)}`
      );
    this.concurrency = options.concurrency ?? defaultConcurrency(this.jobMemory);
    for (const key of ['lockDurationMs', 'stalledIntervalMs', 'maxStalledCount', 'pool'] as const) {
      const v = options[key];
      if (v !== undefined && !(Number.isInteger(v) && v >= (key === 'pool' || key === 'maxStalledCount' ? 0 : 100)))
        throw new SandboxOptionsError(
          key,
          `expected a whole number${key.endsWith('Ms') ? ' of milliseconds, at least 100' : ''}, got ${String(v)}`
        );
    }
    this.outputCap = {
      perSpawnBytes: options.outputCap?.perSpawnBytes ?? 64 * 1024,
      totalBytes: options.outputCap?.totalBytes ?? 4 * 2 ** 20,
    };
    this.prefix = options.prefix ?? 'bull';
    if (options.limitFallback !== undefined && options.limitFallback !== 'error' && options.limitFallback !== 'rlimit')
      throw new SandboxOptionsError(
        'limitFallback',
        `expected 'error' or 'rlimit', got ${JSON.stringify(options.limitFallback)}`
      );
    const id = options.id ?? `${hostname()}:${process.pid}`;
    this.info = { id, hostname: hostname(), pid: process.pid };
  }

  /**
   * Sweeps what crashed sessions left in the state directory (their directories, then, with a
   * first sandbox that checks this host can run jobs at all, their cgroups), then takes jobs
   * until {@link close}. Resolves once the worker is connected and taking jobs; returns how many
   * stale sessions it swept.
   * @throws {SandboxError} when this host cannot start a sandbox: such a worker takes no job.
   */
  async run(): Promise<{ swept: number }> {
    if (this.worker) throw new SandboxOptionsError('run', 'the worker is already running');
    const swept = sweepStaleSessions(this.options.stateDir ?? defaultStateDir());
    const probe = new Sandbox({
      limitFallback: this.options.limitFallback ?? 'error',
      ...(this.options.stateDir !== undefined && { stateDir: this.options.stateDir }),
    });
    try {
      await probe.run(['true']);
    } finally {
      await probe.destroy();
    }
    await this.collectGarbage(true);
    if (this.options.pool)
      this.hostPool = new SandboxPool({
        size: this.options.pool,
        limitFallback: this.options.limitFallback ?? 'error',
        ...(this.options.stateDir !== undefined && { stateDir: this.options.stateDir }),
      });
    const worker = new Worker<unknown, RunJobResult>(this.options.name, (job) => this.process(job), {
      connection: connectionOptions(this.options.connection),
      prefix: this.prefix,
      concurrency: this.concurrency,
      lockDuration: this.options.lockDurationMs ?? 30_000,
      stalledInterval: this.options.stalledIntervalMs ?? 30_000,
      maxStalledCount: this.options.maxStalledCount ?? 2,
      // Results live with the job; the producer reads them from the completed event or the job.
      removeOnComplete: { age: 24 * 3600, count: 100_000 },
      removeOnFail: { age: 24 * 3600, count: 100_000 },
      autorun: false,
    });
    this.worker = worker;
    // BullMQ's own 'error' events (Redis gone, a lock lost): reported, never thrown.
    worker.on('error', (err) => this.warn(`queue: ${err?.message ?? String(err)}`));
    void worker.run().catch((err: Error) => this.warn(`worker stopped: ${err.message}`));
    await worker.waitUntilReady();
    this.pollTimer = setInterval(() => {
      this.pollCancels().catch(ignore);
    }, 250);
    this.pollTimer.unref();
    return { swept };
  }

  /**
   * Stops taking jobs and waits for the running ones to finish (their results are delivered);
   * what is still waiting stays in the queue for other workers. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.worker?.close();
      if (this.pollTimer) clearInterval(this.pollTimer);
      await this.hostPool?.destroy();
      await this.collectGarbage(true);
    })();
    return this.closing;
  }

  /** Jobs running now. */
  get running(): number {
    return this.active.size;
  }

  private async process(job: Job<unknown, RunJobResult>): Promise<RunJobResult> {
    const jobId = String(job.id);
    const attempt = job.attemptsStarted || 1;
    const t0 = performance.now();
    const payload = this.checkPayload(jobId, job.data);
    const abort = new AbortController();
    this.active.set(jobId, abort);
    this.emit('started', { jobId, attempt });
    try {
      if (await this.isCancelled(jobId)) throw this.cancelled(jobId);
      const outcome = await runJob(payload, {
        signal: abort.signal,
        image: (ref) => this.image(ref),
        stateDir: this.options.stateDir,
        limitFallback: this.options.limitFallback ?? 'error',
        hostPool: this.hostPool,
        outputCap: this.outputCap,
        progress: (p) => {
          const progress = { ...p, worker: this.info.id };
          this.emit('progress', { jobId, ...progress });
          job.updateProgress(progress).catch((err: Error) => this.warn(`progress of job ${jobId}: ${err.message}`));
        },
      });
      const durationMs = performance.now() - t0;
      this.emit('completed', { jobId, verdict: outcome.verdict, durationMs });
      return { ...outcome, worker: this.info, attempt, durationMs };
    } catch (err) {
      const failure = abort.signal.aborted ? this.cancelled(jobId) : this.failure(err);
      this.emit('failed', { jobId, reason: failure.message });
      throw failure;
    } finally {
      this.active.delete(jobId);
      if (this.active.size === 0) this.collectGarbage(false).catch(ignore);
    }
  }

  /** The payload checked again here (Redis may hold anything); invalid → failed at once, never retried. */
  private checkPayload(jobId: string, data: unknown): RunJob {
    try {
      const job = validateJob(data);
      const memories = [
        job.limits?.memory,
        ...job.steps.map((s) => s.limits?.memory),
        ...(job.tests ?? []).map((t) => t.limits?.memory),
      ];
      for (const m of memories) {
        if (m !== undefined && parseBytes('limits.memory', m) > this.jobMemory)
          throw new SandboxJobError(
            'invalid',
            `job.limits: asks for ${String(m)} of memory; this worker's jobs get at most ${this.jobMemory} bytes`,
            { field: 'job.limits.memory' }
          );
      }
      if (this.explicitJobMemory && job.limits?.memory === undefined)
        job.limits = { ...job.limits, memory: this.jobMemory };
      return job;
    } catch (err) {
      const e =
        err instanceof SandboxJobError ? err : new SandboxJobError('invalid', String((err as Error)?.message ?? err));
      this.emit('failed', { jobId, reason: e.message });
      throw new UnrecoverableError(
        encodeError({ kind: 'invalid', message: e.message, ...(e.field && { field: e.field }) })
      );
    }
  }

  private cancelled(jobId: string): Error {
    return new UnrecoverableError(encodeError({ kind: 'cancelled', message: `job ${jobId}: cancelled while running` }));
  }

  /** A failure of the worker (not of the program): retried if the job has attempts left. */
  private failure(err: unknown): Error {
    const e = err as Error;
    const code = err instanceof SandboxError ? err.code : undefined;
    return new Error(encodeError({ kind: 'failed', message: String(e?.message ?? err), ...(code && { code }) }));
  }

  private image(ref: string | undefined): Promise<Image> {
    const key = ref ?? '';
    let image = this.images.get(key);
    if (!image) {
      image = (this.options.images ?? resolveJobImage)(ref);
      this.images.set(key, image);
      // A failed lookup is not cached: the image may be imported or pulled later.
      image.catch(() => this.images.delete(key));
    }
    return image;
  }

  private async isCancelled(jobId: string): Promise<boolean> {
    const client = await this.worker!.client;
    return (await client.exists(cancelKey(this.prefix, this.options.name, jobId))) === 1;
  }

  /** One MGET for every running job's cancel key; a set one kills that job's sandbox. */
  private async pollCancels(): Promise<void> {
    if (this.polling || this.active.size === 0 || !this.worker) return;
    this.polling = true;
    try {
      const ids = [...this.active.keys()];
      const client = await this.worker.client;
      const flags = await client.mget(...ids.map((id) => cancelKey(this.prefix, this.options.name, id)));
      ids.forEach((id, i) => {
        if (flags[i] !== null) this.active.get(id)?.abort(new Error('cancelled'));
      });
    } catch (err) {
      debug('cancel poll: %s', (err as Error).message);
    } finally {
      this.polling = false;
    }
  }

  /** Drops layers of the jobs' forgotten snapshots: at start, at close, and when idle (at most once a minute). */
  private async collectGarbage(force: boolean): Promise<void> {
    if (!force && Date.now() - this.lastGc < 60_000) return;
    this.lastGc = Date.now();
    try {
      await Image.gc();
    } catch (err) {
      debug('gc: %s', (err as Error).message);
    }
  }

  private warn(message: string): void {
    debug('worker %s: %s', this.info.id, message);
    this.emit('warning', { message });
  }
}

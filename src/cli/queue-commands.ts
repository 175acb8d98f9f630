import { readFileSync } from 'node:fs';
import { SandboxError, SandboxOptionsError } from '../errors/sandbox-error.js';
import { CliUsageError, defineCommand } from './command.js';
import type * as QueueModuleTypes from '../queue/index.js';

// The queue module is loaded only by these commands: the rest of the CLI works without bullmq.
type QueueModule = typeof QueueModuleTypes;

async function loadQueue(): Promise<QueueModule> {
  try {
    return await import('../queue/index.js');
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' &&
      /bullmq/.test(String((err as Error).message))
    )
      throw new SandboxOptionsError('queue', 'sandkit worker and submit need the bullmq package: npm install bullmq');
    throw err;
  }
}

function positiveInt(value: string | undefined, flag: string, path: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new CliUsageError(`--${flag} expects a whole number, got ${JSON.stringify(value)}`, path);
  return Number(value);
}

function required(value: string | undefined, flag: string, path: string): string {
  if (!value) throw new CliUsageError(`--${flag} is required`, path);
  return value;
}

/** One JSON line on stdout: what the worker did, for logs and scripts. */
function log(event: string, fields: object): void {
  process.stdout.write(`${JSON.stringify({ event, time: new Date().toISOString(), ...fields })}\n`);
}

const REDIS = {
  type: 'string',
  value: 'URL',
  description: 'redis://[user:password@]host:port[/db] of the queue',
} as const;
const QUEUE = { type: 'string', value: 'NAME', description: "the queue's name" } as const;

/** `sandkit worker`: runs until SIGTERM or SIGINT, then finishes its running jobs and exits 0. */
export const workerCommand = defineCommand({
  name: 'worker',
  summary: 'take jobs from a queue and run them in sandboxes',
  usage: '--redis URL --queue NAME [options]',
  description:
    'Prints one JSON line per event (ready, started, completed, failed, warning, closing, closed). ' +
    'SIGTERM or SIGINT: finish the running jobs, take no new one, exit 0 (a second signal exits at once).',
  options: {
    redis: REDIS,
    queue: QUEUE,
    concurrency: { type: 'string', value: 'N', description: 'jobs at once (default: from the CPUs and memory)' },
    pool: { type: 'string', value: 'N', description: 'host-image sandboxes kept started for the steps (default: 0)' },
    id: { type: 'string', value: 'ID', description: "the worker's id in results (default: hostname:pid)" },
    'job-memory': { type: 'string', value: 'SIZE', description: 'memory one job may use (default: 2G)' },
    'lock-duration': {
      type: 'string',
      value: 'MS',
      description: "a job's lock: a lost worker's jobs move on after it (default: 30000)",
    },
    'stalled-interval': {
      type: 'string',
      value: 'MS',
      description: "how often to look for lost workers' jobs (default: 30000)",
    },
    'limit-fallback': {
      type: 'string',
      value: 'error|rlimit',
      description: 'limits without cgroups: fail the job, or use rlimits',
    },
  },
  run: async ({ values, path }) => {
    const { RunWorker } = await loadQueue();
    const fallback = values['limit-fallback'];
    if (fallback !== undefined && fallback !== 'error' && fallback !== 'rlimit')
      throw new CliUsageError(`--limit-fallback expects error or rlimit, got ${JSON.stringify(fallback)}`, path);
    const concurrency = positiveInt(values.concurrency, 'concurrency', path);
    const pool = positiveInt(values.pool, 'pool', path);
    const lockDurationMs = positiveInt(values['lock-duration'], 'lock-duration', path);
    const stalledIntervalMs = positiveInt(values['stalled-interval'], 'stalled-interval', path);
    const worker = new RunWorker({
      connection: required(values.redis, 'redis', path),
      name: required(values.queue, 'queue', path),
      ...(concurrency !== undefined && { concurrency }),
      ...(pool !== undefined && { pool }),
      ...(values.id !== undefined && { id: values.id }),
      ...(values['job-memory'] !== undefined && { jobMemory: values['job-memory'] }),
      ...(lockDurationMs !== undefined && { lockDurationMs }),
      ...(stalledIntervalMs !== undefined && { stalledIntervalMs }),
      ...(fallback !== undefined && { limitFallback: fallback }),
    });
    worker.on('started', (e) => log('started', e));
    worker.on('completed', (e) => log('completed', e));
    worker.on('failed', (e) => log('failed', e));
    worker.on('warning', (e) => log('warning', e));
    const stopped = new Promise<void>((resolve) => {
      let signals = 0;
      const stop = (signal: NodeJS.Signals) => {
        if (++signals > 1) process.exit(128 + (signal === 'SIGINT' ? 2 : 15)); // a second signal: now
        log('closing', { signal, running: worker.running });
        worker.close().then(resolve, (err: Error) => {
          log('warning', { message: `close: ${err.message}` });
          resolve();
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    const { swept } = await worker.run();
    log('ready', { worker: worker.info.id, concurrency: worker.concurrency, swept });
    await stopped;
    log('closed', { worker: worker.info.id });
    // Closed connections can still hold the event loop for seconds (reconnect timers); the work is
    // done, and the exit hook still kills the helper and removes this process's state.
    setTimeout(() => process.exit(), 100).unref();
    return 0;
  },
});

/** `sandkit submit`: prints the result as JSON; exit 0 when the job completed (whatever its verdict), 1 if it failed. */
export const submitCommand = defineCommand({
  name: 'submit',
  summary: 'submit a job to a queue and print its result as JSON',
  usage: '--redis URL --queue NAME JOB.json|-',
  description:
    'JOB.json: { image?, files?, steps: [{ cmd, stdin?, limits?, snapshotAfter? }], run?, tests?: [{ stdin?, limits?, expect? }] } (docs/queue.md). ' +
    'Progress goes to stderr. Exit 0 when the job completed (any verdict), 1 when it failed or was cancelled.',
  options: { redis: REDIS, queue: QUEUE },
  run: async ({ values, positionals, path }) => {
    if (positionals.length !== 1) throw new CliUsageError('expected one job file (or - for stdin)', path);
    const file = positionals[0]!;
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    let job: unknown;
    try {
      job = JSON.parse(text);
    } catch (err) {
      throw new CliUsageError(`${file} is not JSON: ${(err as Error).message}`, path);
    }
    const redis = required(values.redis, 'redis', path);
    const name = required(values.queue, 'queue', path);
    const { RunQueue } = await loadQueue();
    const queue = new RunQueue({ connection: redis, name });
    try {
      const handle = await queue.submit(job as never);
      handle.on('progress', (p) =>
        process.stderr.write(`${p.phase} ${p.index + 1}/${p.total}: ${p.outcome} (${p.worker})\n`)
      );
      const result = await handle.result();
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    } catch (err) {
      if (!(err instanceof SandboxError) || err.code === 'ERR_SANDBOX_OPTIONS') throw err;
      const error = { ...err, name: err.name, code: err.code, message: err.message };
      process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
      return 1;
    } finally {
      await queue.close();
    }
  },
});

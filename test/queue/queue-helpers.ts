import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll } from 'vitest';
import { Sandbox, SandboxUnsupportedError } from '../../src/index.js';
import { isRoot } from '../helpers/require-feature.js';
import { RedisServer } from './redis-server.js';
import type { WorkerProcess } from './worker-process.js';

/** A fresh directory under the run's state dir (so the global setup checks it for leaks). */
export function clusterRoot(): string {
  const dir = join(process.env.SANDKIT_STATE_DIR!, `cluster-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Worker flags for this host: rootless has no cgroups here, so CPU time falls back to rlimits. */
export const workerFlags = isRoot ? [] : ['--limit-fallback', 'rlimit'];

/** Whether a spawn's memory limit is in force here (a memory cgroup), tried for real. */
export async function memoryLimitsWork(): Promise<boolean> {
  const sandbox = new Sandbox();
  try {
    await sandbox.run(['true'], { limits: { memory: '64M' } });
    return true;
  } catch (err) {
    if (err instanceof SandboxUnsupportedError) return false;
    throw err;
  } finally {
    await sandbox.destroy();
  }
}

/**
 * Completions per job id as Redis recorded them: the 'completed' entries of the queue's event
 * stream (kept across a SHUTDOWN SAVE restart), read at the end, so none can be missed.
 */
export async function completionsInRedis(url: string, queue: string): Promise<Map<string, number>> {
  const q = new Queue(queue, { connection: { url } });
  try {
    const client = await q.client;
    const entries = (await client.xrange(`bull:${queue}:events`, '-', '+')) as Array<[string, string[]]>;
    const counts = new Map<string, number>();
    for (const [, fields] of entries) {
      const at = (k: string) => fields[fields.indexOf(k) + 1];
      if (at('event') === 'completed') counts.set(at('jobId')!, (counts.get(at('jobId')!) ?? 0) + 1);
    }
    return counts;
  } finally {
    await q.close();
  }
}

export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A redis-server of the test file's own, and the list of worker processes the file starts:
 * after the file every worker is killed (SIGKILL) and awaited, then Redis is stopped.
 */
export function redisWithWorkers(): { redis: RedisServer; workers: WorkerProcess[] } {
  const redis = new RedisServer();
  const workers: WorkerProcess[] = [];
  beforeAll(() => redis.start());
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await redis.stop();
  });
  return { redis, workers };
}

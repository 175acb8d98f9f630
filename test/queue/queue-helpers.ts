import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { Sandbox, SandboxUnsupportedError } from '../../src/index.js';
import { isRoot } from '../helpers/require-feature.js';

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

/** Counts, per job id, the completions Redis recorded (BullMQ's completed events of the queue). */
export class CompletionCounter {
  readonly counts = new Map<string, number>();
  private readonly events: QueueEvents;
  constructor(url: string, queue: string) {
    this.events = new QueueEvents(queue, { connection: { url, maxRetriesPerRequest: null } });
    this.events.on('error', () => {});
    this.events.on('completed', ({ jobId }) => this.counts.set(jobId, (this.counts.get(jobId) ?? 0) + 1));
  }
  ready(): Promise<void> {
    return this.events.waitUntilReady().then(() => {});
  }
  close(): Promise<void> {
    return this.events.close();
  }
}

export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

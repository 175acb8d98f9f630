// One job's life: payload checks on both sides, capped output, cancellation (waiting and
// running), graceful shutdown on SIGTERM, and memory-limit verdicts.
import { Queue } from 'bullmq';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunQueue, RunWorker, SandboxJobCancelledError, SandboxJobError, type RunJob } from '../../src/queue/index.js';
import { processesRunning } from '../helpers/host.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { WorkerProcess } from './worker-process.js';
import { CASES } from './jobs.js';
import { clusterRoot, memoryLimitsWork, redisWithWorkers, waitUntil, workerFlags } from './queue-helpers.js';

const { redis, workers } = redisWithWorkers();
let root: string;
beforeAll(() => {
  root = clusterRoot();
});

/** An in-process worker taking one job at a time; limits fall back to rlimits only rootless. */
function oneAtATime(name: string, options: { jobMemory?: string } = {}): RunWorker {
  return new RunWorker({
    connection: redis.url,
    name,
    concurrency: 1,
    ...options,
    limitFallback: isRoot ? 'error' : 'rlimit',
  });
}

// A sleep no one else runs: found by its argv on the host.
const SLEEP = ['sleep', '60.4242'];
const long: RunJob = { steps: [{ cmd: SLEEP }] };

describe('job payloads', () => {
  it('rejects an invalid job on submit with a typed error naming the field, queueing nothing', async () => {
    const queue = new RunQueue({ connection: redis.url, name: 'invalid' });
    try {
      const bad = [
        [{ steps: [] }, 'job.steps'],
        [{ steps: [{ cmd: 'echo hi' }] }, 'job.steps[0].cmd'],
        [{ steps: [{ cmd: ['true'], limits: { cpuTime: 'soon' } }] }, 'job.steps[0].limits'],
        [{ steps: [{ cmd: ['true'] }], tests: [{ stdin: '1' }] }, 'job.tests[0].cmd'],
        [{ steps: [{ cmd: ['true'] }], files: { 'rel/path': 'x' } }, 'job.files["rel/path"]'],
        [{ steps: [{ cmd: ['true'] }], extra: 1 }, 'job.extra'],
      ] as const;
      for (const [job, field] of bad) {
        const err = await queue.submit(job as unknown as RunJob).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SandboxJobError);
        expect((err as SandboxJobError).reason).toBe('invalid');
        expect((err as SandboxJobError).field).toBe(field);
      }
      expect((await queue.counts()).waiting).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('fails a payload that reaches the worker invalid at once, without retrying it', async () => {
    const name = 'invalid-worker';
    const worker = oneAtATime(name);
    await worker.run();
    // Written to Redis past the producer's check, with retries allowed.
    const raw = new Queue(name, { connection: { url: redis.url } });
    const queue = new RunQueue({ connection: redis.url, name });
    try {
      const added = await raw.add(
        'run',
        { steps: [{ cmd: [42] }] },
        { attempts: 5, backoff: { type: 'fixed', delay: 100 } }
      );
      const err = await queue
        .handle(String(added.id))
        .result()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxJobError);
      expect((err as SandboxJobError).reason).toBe('invalid');
      expect((err as SandboxJobError).field).toBe('job.steps[0].cmd[0]');
      const job = await raw.getJob(String(added.id));
      expect(job?.attemptsMade).toBe(1);
      expect(await job?.getState()).toBe('failed');
    } finally {
      await worker.close();
      await raw.close();
      await queue.close();
    }
  });

  it('caps output before it reaches Redis and says so in the result', async () => {
    const name = 'cap';
    const worker = oneAtATime(name);
    await worker.run();
    const queue = new RunQueue({ connection: redis.url, name });
    try {
      const flood = ['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" x; head -c 100000 /dev/zero | tr "\\0" y >&2'];
      const handle = await queue.submit({ steps: [{ cmd: flood }, { cmd: flood }] });
      const r = await handle.result();
      expect(r.outputCap).toEqual({ perSpawnBytes: 65536, totalBytes: 4 * 2 ** 20, truncated: true });
      for (const step of r.steps) {
        expect(step.stdout.length).toBe(65536);
        expect(step.stdoutTruncated).toBe(true);
        expect(step.stderr.length).toBe(65536);
        expect(step.stderrTruncated).toBe(true);
      }
      const stored = await new Queue(name, { connection: { url: redis.url } }).getJob(handle.id);
      expect(JSON.stringify(stored?.returnvalue).length).toBeLessThan(300_000);
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});

describe('cancellation', () => {
  it("kills a running job's sandbox and removes a waiting one; result() rejects with a typed error", async () => {
    const name = 'cancel';
    const w = WorkerProcess.start(root, 'cancel', redis.url, name, [...workerFlags, '--concurrency', '1']);
    workers.push(w);
    await w.waitFor((l) => l.event === 'ready');
    const queue = new RunQueue({ connection: redis.url, name });
    try {
      const running = await queue.submit(long);
      const waiting = await queue.submit(CASES.accepted!().job);
      await w.waitFor((l) => l.event === 'started' && l.jobId === running.id);
      await waitUntil(() => processesRunning(SLEEP).length > 0, 20_000, 'sleep running');

      await waiting.cancel();
      const e1 = await waiting.result().catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(SandboxJobCancelledError);
      expect((e1 as SandboxJobCancelledError).wasRunning).toBe(false);

      const t0 = Date.now();
      await running.cancel();
      const e2 = await running.result().catch((e: unknown) => e);
      expect(e2).toBeInstanceOf(SandboxJobCancelledError);
      expect((e2 as SandboxJobCancelledError).wasRunning).toBe(true);
      expect(Date.now() - t0).toBeLessThan(15_000); // not the 60 s of its sleep
      await waitUntil(() => processesRunning(SLEEP).length === 0, 10_000, 'sleep killed');
      // The waiting job never ran.
      expect(w.events('started').map((l) => l.jobId)).not.toContain(waiting.id);
      // The worker goes on taking jobs.
      const next = await (await queue.submit(CASES.accepted!().job)).result();
      expect(next.verdict).toBe('accepted');
    } finally {
      await queue.close();
      w.kill('SIGTERM');
      await w.exited;
    }
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM finishes the running job, takes no new one, and exits 0', async () => {
    const name = 'shutdown';
    const w = WorkerProcess.start(root, 'graceful', redis.url, name, [...workerFlags, '--concurrency', '1']);
    workers.push(w);
    await w.waitFor((l) => l.event === 'ready');
    const queue = new RunQueue({ connection: redis.url, name });
    try {
      const first = await queue.submit({ steps: [{ cmd: ['sh', '-c', 'sleep 2; echo done'] }] });
      const second = await queue.submit(CASES.accepted!().job);
      await w.waitFor((l) => l.event === 'started' && l.jobId === first.id);
      w.kill('SIGTERM');
      const r = await first.result();
      expect(r.steps[0]!.stdout).toBe('done\n');
      expect(r.worker.id).toBe('graceful');
      expect(await w.exited).toBe(0);
      expect(w.events('started').map((l) => l.jobId)).toEqual([first.id]);
      expect((await queue.counts()).waiting).toBe(1);
      // The job left waiting runs on the next worker.
      const next = WorkerProcess.start(root, 'next', redis.url, name, [...workerFlags, '--concurrency', '1']);
      workers.push(next);
      const r2 = await second.result();
      expect(r2.worker.id).toBe('next');
      expect(r2.verdict).toBe('accepted');
      next.kill('SIGTERM');
      await next.exited;
    } finally {
      await queue.close();
    }
  });
});

describe('memory limits', () => {
  it('judges memory hogs (shell and C) memory-limit', async (ctx) => {
    requireFeature(ctx, await memoryLimitsWork(), 'spawn memory limits need a memory cgroup (absent rootless here)');
    const name = 'memory';
    const worker = new RunWorker({ connection: redis.url, name, concurrency: 2 });
    await worker.run();
    const queue = new RunQueue({ connection: redis.url, name });
    try {
      const cases = [CASES['memory-limit']!(), CASES['c-memory-limit']!()];
      const results = await Promise.all(
        (await Promise.all(cases.map((c) => queue.submit(c.job)))).map((h) => h.result())
      );
      expect(results.map((r) => r.verdict)).toEqual(['memory-limit', 'memory-limit']);
      expect(results.every((r) => r.tests[0]!.oomKilled)).toBe(true);
    } finally {
      await worker.close();
      await queue.close();
    }
  });

  it('refuses a job asking for more memory than a worker gives a job', async () => {
    const name = 'memory-bound';
    const worker = oneAtATime(name, { jobMemory: '256M' });
    expect(worker.concurrency).toBe(1);
    await worker.run();
    const queue = new RunQueue({ connection: redis.url, name });
    try {
      const h = await queue.submit({ steps: [{ cmd: ['true'], limits: { memory: '1G' } }] });
      const err = await h.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxJobError);
      expect((err as SandboxJobError).reason).toBe('invalid');
      expect((err as SandboxJobError).field).toBe('job.limits.memory');
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});

// Redis restarted mid-run (same port): workers and the producer reconnect, no job is lost and
// none is completed twice (an attempt whose lock expired during the outage cannot complete).
import { expect, it } from 'vitest';
import { RunQueue } from '../../src/queue/index.js';
import { WorkerProcess } from './worker-process.js';
import { CASES, type JobCase } from './jobs.js';
import { clusterRoot, completionsInRedis, redisWithWorkers, waitUntil, workerFlags } from './queue-helpers.js';

const { redis, workers } = redisWithWorkers();

it('loses no job and completes none twice when Redis restarts mid-run', async () => {
  const root = clusterRoot();
  const name = 'restart';
  const flags = [...workerFlags, '--concurrency', '2'];
  const a = WorkerProcess.start(root, 'a', redis.url, name, flags);
  const b = WorkerProcess.start(root, 'b', redis.url, name, flags);
  workers.push(a, b);
  await Promise.all([a.waitFor((l) => l.event === 'ready'), b.waitFor((l) => l.event === 'ready')]);
  const queue = new RunQueue({ connection: redis.url, name, checkIntervalMs: 500 });
  try {
    const kinds = ['accepted', 'slow', 'wrong-answer', 'runtime-error', 'compile-error', 'time-limit'];
    const cases: JobCase[] = Array.from({ length: 48 }, (_, i) => CASES[kinds[i % kinds.length]!]!());
    const handles = await Promise.all(cases.map((c) => queue.submit(c.job)));
    let settledCount = 0;
    const settled = Promise.allSettled(handles.map((h) => h.result().finally(() => settledCount++)));
    await waitUntil(() => settledCount >= 10, 120_000, '10 results');
    const before = await queue.counts();
    expect(before.active + before.waiting).toBeGreaterThan(0); // jobs in flight across the restart
    await redis.restart(1000);
    const outcomes = await settled;
    const wrong = outcomes.flatMap((o, i) =>
      o.status === 'rejected'
        ? [`${handles[i]!.id}: ${String(o.reason)}`]
        : o.value.verdict !== cases[i]!.verdict
          ? [`${handles[i]!.id}: ${o.value.verdict}, expected ${cases[i]!.verdict}`]
          : []
    );
    expect(wrong).toEqual([]);
    // The workers saw Redis go (and said so), then came back and took jobs.
    expect([...a.events('warning'), ...b.events('warning')].length).toBeGreaterThan(0);
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
    // Redis recorded one completion per job (events of before the restart were saved with it).
    const completions = await completionsInRedis(redis.url, name);
    expect([...completions.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(completions.keys())).toEqual(new Set(handles.map((h) => h.id)));
    const after = await queue.counts();
    expect(after.completed).toBe(cases.length);
    expect(after.failed + after.active + after.waiting).toBe(0);
  } finally {
    await queue.close();
  }
});

// Two worker processes with state dirs of their own stand for two machines on one Redis. 200
// jobs of every verdict come back exactly once; one worker is killed with SIGKILL mid-run and
// its jobs finish elsewhere; a worker restarted on the killed one's state dir sweeps it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunQueue, type RunJobResult } from '../../src/queue/index.js';
import { WorkerProcess } from './worker-process.js';
import { jobMix } from './jobs.js';
import {
  clusterRoot,
  completionsInRedis,
  redisWithWorkers,
  memoryLimitsWork,
  waitUntil,
  workerFlags,
} from './queue-helpers.js';

const { redis, workers } = redisWithWorkers();

describe('a cluster of two workers', () => {
  it('runs 200 jobs exactly once with the right verdicts while one worker is killed with SIGKILL, and a worker on its state dir sweeps it', async () => {
    const root = clusterRoot();
    const queueName = 'cluster';
    const memory = await memoryLimitsWork();
    if (!memory) console.warn('memory-limit jobs left out of the mix: no memory cgroup here (rootless)');
    const flags = [...workerFlags, '--concurrency', '2'];
    const a = WorkerProcess.start(root, 'a', redis.url, queueName, flags);
    // b keeps a started host sandbox ahead of its jobs' steps (a SandboxPool).
    const b = WorkerProcess.start(root, 'b', redis.url, queueName, [...flags, '--pool', '1']);
    workers.push(a, b);
    await Promise.all([a.waitFor((l) => l.event === 'ready'), b.waitFor((l) => l.event === 'ready')]);

    const queue = new RunQueue({ connection: redis.url, name: queueName });
    try {
      const cases = jobMix(200, memory);
      const handles = await Promise.all(cases.map((c) => queue.submit(c.job)));
      const settled = Promise.allSettled(handles.map((h) => h.result()));

      // Kill a once it has done some work and is in the middle of a job.
      await waitUntil(() => a.events('completed').length >= 15 && a.running().length > 0, 120_000, 'worker a busy');
      const sessionsOfA = readdirSync(join(a.stateDir, 'sessions'));
      const inFlight = a.running();
      a.kill('SIGKILL');
      expect(await a.exited).toBe('SIGKILL');
      // Its session (with the sandboxes it was running) is left behind, as after a lost machine.
      expect(sessionsOfA.length).toBeGreaterThan(0);
      expect(sessionsOfA.some((s) => existsSync(join(a.stateDir, 'sessions', s)))).toBe(true);

      // A worker restarted on a's state dir sweeps the dead session before it takes jobs.
      const a2 = new WorkerProcess(
        a.stateDir,
        ['--redis', redis.url, '--queue', queueName, '--lock-duration', '2000', '--stalled-interval', '1000', ...flags],
        'a2'
      );
      workers.push(a2);
      const ready = await a2.waitFor((l) => l.event === 'ready');
      expect(ready.swept).toBeGreaterThanOrEqual(1);
      for (const s of sessionsOfA) expect(existsSync(join(a.stateDir, 'sessions', s))).toBe(false);

      const outcomes = await settled;
      const wrong: string[] = [];
      const results = new Map<string, RunJobResult>();
      outcomes.forEach((o, i) => {
        const id = handles[i]!.id;
        if (o.status === 'rejected') wrong.push(`${id} (${cases[i]!.kind}): ${String(o.reason)}`);
        else {
          results.set(id, o.value);
          if (o.value.verdict !== cases[i]!.verdict)
            wrong.push(`${id} (${cases[i]!.kind}): ${o.value.verdict}, expected ${cases[i]!.verdict}`);
        }
      });
      expect(wrong).toEqual([]);
      expect(results.size).toBe(200);

      // Exactly one completion per job in Redis, killed attempts included.
      const completions = await completionsInRedis(redis.url, queueName);
      const twice = [...completions].filter(([, n]) => n !== 1);
      expect(twice).toEqual([]);
      expect(new Set(completions.keys())).toEqual(new Set(handles.map((h) => h.id)));

      // What a was running when it died finished on another worker, from the start.
      expect(inFlight.length).toBeGreaterThan(0);
      for (const id of inFlight) {
        const r = results.get(id)!;
        expect(r.worker.id).not.toBe('a');
        expect(r.attempt).toBeGreaterThanOrEqual(2);
      }
      // Both machines did work, and the C jobs carry gcc's outcome and the tests' measurements.
      const by = new Set([...results.values()].map((r) => r.worker.id));
      expect(by.has('a') && by.has('b')).toBe(true);
      const cAccepted = cases.findIndex((c) => c.kind === 'c-accepted');
      const c = results.get(handles[cAccepted]!.id)!;
      expect(c.steps[0]!.command[0]).toBe('gcc');
      expect(c.tests.map((t) => t.stdout.trim())).toEqual(['3', '0', '2000000000']);
      expect(c.tests.every((t) => t.wallTimeMs > 0 && t.cpuTimeMs.total >= 0)).toBe(true);
      const compileError = results.get(handles[cases.findIndex((x) => x.kind === 'c-compile-error')]!.id)!;
      expect(compileError.tests).toEqual([]);
      expect(compileError.steps[0]!.stderr).toMatch(/error/);
    } finally {
      await queue.close();
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
    }
  });
});

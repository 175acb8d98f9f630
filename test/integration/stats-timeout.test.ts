import { describe, expect, type TestContext } from 'vitest';
import { Sandbox, SandboxDestroyedError, SandboxOptionsError, type ResourceStats } from '../../src/index.js';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

const MiB = 1024 * 1024;

/** Cgroups this process can make (root, or a delegated cgroup); without them every figure is null. */
const hasCgroups = () => cgroupsFor().ok;

function expectAllNull(s: ResourceStats): void {
  expect(s.memory).toEqual({ current: null, peak: null });
  expect(s.cpu).toEqual({ user: null, system: null, total: null });
  expect(s.pids).toBeNull();
  expect(s.io).toEqual({ readBytes: null, writeBytes: null });
}

describe('stats()', () => {
  it('reports a known allocation: 64 MiB in /dev/shm under a 256M limit', async ({ sandbox }) => {
    const sb = sandbox({ limits: { memory: '256M', pids: 64 }, limitFallback: 'rlimit' });
    const proc = sb.spawn(['sh', '-c', 'head -c 67108864 /dev/zero > /dev/shm/fill && echo filled && sleep 30']);
    await sb.waitForLog('filled', { process: proc, timeout: 20_000 });
    const [own, whole] = await Promise.all([proc.stats(), sb.stats()]);
    if (!hasCgroups()) {
      // Rootless without a delegated cgroup: nothing to read, and nothing invented.
      expectAllNull(own);
      expectAllNull(whole);
    } else {
      expect(own.memory.current).toBeGreaterThanOrEqual(64 * MiB);
      expect(own.memory.current).toBeLessThan(256 * MiB);
      expect(own.memory.peak ?? own.memory.current).toBeGreaterThanOrEqual(64 * MiB);
      expect(whole.memory.peak).toBeGreaterThanOrEqual(64 * MiB);
      expect(whole.memory.current).toBeGreaterThanOrEqual(64 * MiB);
      expect(own.pids).toBeGreaterThanOrEqual(1); // sleep (sh may have exec'd it)
      expect(own.pids).toBeLessThanOrEqual(64);
    }
    proc.kill('SIGKILL');
    await proc;
    expectAllNull(await proc.stats()); // ended: its figures are in its SpawnResult
  });

  it('counts CPU time: user time grows by a busy loop bounded by a CPU-time limit', async ({ sandbox }) => {
    const sb = sandbox({ limitFallback: 'rlimit' }); // rootless: the CPU-time limit is an rlimit
    await sb.run(['true']);
    const before = await sb.stats();
    const r = await sb.run(['sh', '-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'], {
      limits: { cpuTime: '20s' },
    });
    expect(r.exitCode).toBe(0);
    const after = await sb.stats();
    if (!hasCgroups()) {
      expectAllNull(after);
      return;
    }
    expect(after.cpu.user! - before.cpu.user!).toBeGreaterThan(50);
    expect(after.cpu.total!).toBeGreaterThanOrEqual(after.cpu.user! + after.cpu.system! - 1);
    // The loop's own CPU time, as its result counts it, is within the sandbox's growth.
    expect(after.cpu.total! - before.cpu.total!).toBeGreaterThanOrEqual(r.cpuTimeMs.total * 0.9);
  });

  it('as root, cgroups are there and give every memory, cpu and pids figure', async ({ sandbox, task, skip }) => {
    requireFeature(
      { task, skip } as unknown as TestContext,
      isRoot || hasCgroups(),
      'cgroups need root or a delegated cgroup'
    );
    const sb = sandbox();
    await sb.run(['true']);
    const s = await sb.stats();
    expect(s.memory.current).not.toBeNull();
    expect(s.memory.peak).not.toBeNull();
    expect(s.cpu.user).not.toBeNull();
    expect(s.pids).toBe(0); // the sandbox's init lives outside its cgroup; no spawn runs
  });

  it('emits a stats event every statsInterval while it runs, and none after destroy', async ({ sandbox }) => {
    const sb = sandbox({ statsInterval: 100 });
    const seen: ResourceStats[] = [];
    sb.on('stats', ({ id, stats }) => {
      expect(id).toBe(sb.id);
      seen.push(stats);
    });
    await sb.start();
    const t0 = Date.now();
    await sb.run(['sleep', '0.6']);
    const elapsed = Date.now() - t0;
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1); // no more often than asked
    await sb.destroy();
    const count = seen.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.length).toBe(count);
  });

  it('rejects a bad statsInterval naming it', () => {
    for (const bad of [0, 5, 'soon', -1]) {
      const err = (() => {
        try {
          new Sandbox({ statsInterval: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(SandboxOptionsError);
      expect((err as SandboxOptionsError).field).toBe('statsInterval');
    }
  });
});

describe('timeout', () => {
  it('destroys the sandbox when due, with timeout before destroying and destroyed', async ({ sandbox }) => {
    const t0 = Date.now();
    const sb = sandbox({ timeout: '1.5s' });
    const order: string[] = [];
    for (const e of ['timeout', 'destroying', 'destroyed'] as const) sb.on(e, () => order.push(e));
    let timeoutMs = 0;
    sb.on('timeout', (e) => (timeoutMs = e.timeoutMs));
    const running = sb.run(['sleep', '30']);
    const destroyed = new Promise<void>((r) => sb.once('destroyed', () => r()));
    await destroyed;
    expect(order).toEqual(['timeout', 'destroying', 'destroyed']);
    expect(timeoutMs).toBe(1500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1490);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // Destroy kills what runs (or, when the start outlasted the timeout, the program never began).
    const outcome = await running.then(
      (r) => r.signal,
      (e: { code?: string }) => e.code
    );
    expect(['SIGKILL', 'ERR_SANDBOX_ABORTED', 'ERR_SANDBOX_DESTROYED']).toContain(outcome);
    expect(sb.state).toBe('destroyed');
    expect(() => sb.setTimeout(1000)).toThrow(SandboxDestroyedError);
  });

  it('setTimeout extends and shortens it, and null removes it', async ({ sandbox }) => {
    const sb = sandbox({ timeout: 300 });
    sb.setTimeout('5s'); // extend, before the first 300ms can pass (a start may take longer on a loaded host)
    const extendedAt = Date.now();
    expect(Date.parse(sb.info().timeoutAt!)).toBeGreaterThanOrEqual(extendedAt + 4900);
    const started = sb.start();
    await new Promise((r) => setTimeout(r, 600));
    expect(['starting', 'running']).toContain(sb.state); // the first 300ms passed without it
    await started;
    const done = new Promise<void>((r) => sb.once('destroyed', () => r()));
    const shortenedAt = Date.now();
    sb.setTimeout(100); // shorten
    await done;
    expect(Date.now() - shortenedAt).toBeLessThan(4000);

    const kept = sandbox({ timeout: 200 });
    kept.setTimeout(null);
    expect(kept.info().timeoutAt).toBeNull();
    await new Promise((r) => setTimeout(r, 400));
    expect(kept.state).not.toBe('destroyed');
  });

  it('rejects a bad timeout, in the options and in setTimeout, naming timeout', async ({ sandbox }) => {
    for (const bad of [0, -5, 'forever', '5 weeks', Number.NaN, 400 * 24 * 3_600_000]) {
      expect(() => new Sandbox({ timeout: bad })).toThrow(SandboxOptionsError);
      try {
        new Sandbox({ timeout: bad });
      } catch (e) {
        expect((e as SandboxOptionsError).field).toBe('timeout');
      }
    }
    const sb = sandbox();
    expect(() => sb.setTimeout('later')).toThrowError(/invalid option timeout/);
  });
});

import { describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_SANDBOX_LIMITS,
  resolveSandboxLimitsWithDefaults,
  resolveSpawnLimits,
  cgroupLimitNames,
} from '../../src/limits/limits.js';
import { enforcementOf } from '../../src/cgroup/enforcement.js';
import { MAX_TIMER_MS, setLongTimeout } from '../../src/limits/long-timeout.js';
import { SandboxOptionsError } from '../../src/errors/sandbox-error.js';

const GiB = 2 ** 30;
const everything = { memory: 'v1', pids: 'v1', cpu: 'v1', io: null } as const;

describe('default sandbox limits', () => {
  it('fill memory, pids and disk, each replaced by an explicit value', () => {
    expect(resolveSandboxLimitsWithDefaults(undefined)).toEqual({
      memory: 2 * GiB,
      pids: 4096,
      disk: GiB,
      defaulted: ['memory', 'pids', 'disk'],
    });
    expect(resolveSandboxLimitsWithDefaults({ pids: 100, cpus: 1 })).toEqual({
      memory: 2 * GiB,
      cpus: 1,
      pids: 100,
      disk: GiB,
      defaulted: ['memory', 'disk'],
    });
    expect(resolveSandboxLimitsWithDefaults({ memory: 1 * GiB, pids: 10, disk: '1M' })).toEqual({
      memory: GiB,
      pids: 10,
      disk: 2 ** 20,
    });
    expect(resolveSandboxLimitsWithDefaults('unlimited')).toEqual({});
    // under an explicit memory limit the default disk is half of it (tmpfs pages are memory)
    expect(resolveSandboxLimitsWithDefaults({ memory: '256M' })).toMatchObject({
      memory: 256 * 2 ** 20,
      disk: 128 * 2 ** 20,
    });
    expect(resolveSandboxLimitsWithDefaults({ memory: '8G' }).disk).toBe(GiB);
    expect(DEFAULT_SANDBOX_LIMITS).toEqual({ memory: 2 * GiB, pids: 4096, disk: GiB });
  });

  it('are not cgroup limits a start must fail for', () => {
    expect(cgroupLimitNames(resolveSandboxLimitsWithDefaults(undefined))).toEqual([]);
    expect(cgroupLimitNames(resolveSandboxLimitsWithDefaults({ memory: '1G' }))).toEqual(['memory']);
  });

  it.each([
    [100, 'limits.memory', /at least 4 MiB/],
    ['4k', 'limits.memory', /at least 4 MiB/],
    [1e300, 'limits.memory', /at most/],
  ])('memory %j is refused naming %s', (memory, field, message) => {
    const err = (() => {
      try {
        resolveSandboxLimitsWithDefaults({ memory });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SandboxOptionsError);
    expect(err).toMatchObject({ field });
    expect((err as Error).message).toMatch(message);
  });

  it('spawn limits have the same minimums and a ceiling for durations', () => {
    expect(() => resolveSpawnLimits({ memory: 4096 })).toThrow(/limits\.memory.*at least 4 MiB/);
    expect(() => resolveSpawnLimits({ pids: 1 })).toThrow(/limits\.pids.*at least 2/);
    expect(() => resolveSpawnLimits({ wallTime: 1e300 })).toThrow(/limits\.wallTime.*at most 100 years/);
    expect(resolveSpawnLimits({ wallTime: 2 ** 31 })).toEqual({ wallTimeMs: 2 ** 31 });
  });
});

describe('how limits are enforced', () => {
  it('in cgroups where the controllers are', () => {
    const e = enforcementOf(resolveSandboxLimitsWithDefaults(undefined), everything);
    expect(e).toMatchObject({ cgroup: { memory: 2 * GiB, pids: 4096, disk: GiB }, missing: [], rlimits: [] });
    expect(e.defaults.memory).toMatch(/cgroup v1 memory/);
  });

  it('defaults without controllers fall back to rlimits, never a failure', () => {
    const e = enforcementOf(resolveSandboxLimitsWithDefaults(undefined), undefined);
    expect(e.cgroup).toEqual({ disk: GiB });
    expect(e.missing).toEqual([]);
    expect(e.rlimits).toEqual([
      ['as', 2 * GiB, 2 * GiB],
      ['nproc', 4096, 4096],
    ]);
    expect(e.defaults.pids).toMatch(/RLIMIT_NPROC/);
  });

  it('explicit limits without a controller are missing; ioWeight needs the v2 io controller', () => {
    expect(enforcementOf(resolveSandboxLimitsWithDefaults({ memory: '1G', ioWeight: 50 }), everything).missing).toEqual(
      ['cgroup io limit']
    );
    expect(enforcementOf(resolveSandboxLimitsWithDefaults({ memory: '1G', pids: 9 }), undefined).missing).toEqual([
      'cgroup memory limit',
      'cgroup pids limit',
    ]);
    expect(
      enforcementOf(resolveSandboxLimitsWithDefaults({ ioWeight: 50 }), { ...everything, io: 'v2' }).cgroup.ioWeight
    ).toBe(50);
  });
});

describe('setLongTimeout', () => {
  it('fires a delay past 2^31 ms at its time, not at once, and clearTimeout cancels it', () => {
    vi.useFakeTimers();
    try {
      const fired: number[] = [];
      const start = Date.now();
      setLongTimeout(() => fired.push(Date.now() - start), MAX_TIMER_MS * 2 + 10);
      const cancelled = setLongTimeout(() => fired.push(-1), MAX_TIMER_MS + 1);
      vi.advanceTimersByTime(1000);
      expect(fired).toEqual([]);
      clearTimeout(cancelled);
      vi.advanceTimersByTime(MAX_TIMER_MS * 2 - 1000); // 10 ms short of the delay
      expect(fired).toEqual([]);
      vi.advanceTimersByTime(1000);
      expect(fired.length).toBe(1);
      expect(fired[0]).toBeGreaterThanOrEqual(MAX_TIMER_MS * 2 + 10);
    } finally {
      vi.useRealTimers();
    }
  });
});

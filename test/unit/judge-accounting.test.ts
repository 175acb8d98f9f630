import { describe, expect, it } from 'vitest';
import { resolveSpawnLimits } from '../../src/limits/limits.js';
import { rlimitsFor } from '../../src/limits/rlimits.js';
import { SpawnMonitor, violationOf } from '../../src/process/spawn-monitor.js';
import { statusOf } from '../../src/process/spawn-result.js';
import { SandboxOptionsError } from '../../src/errors/sandbox-error.js';
import type { ExitEvent } from '../../src/helper/protocol.js';

const exit = (over: Partial<ExitEvent> = {}): ExitEvent => ({
  type: 'exit',
  sandbox: 's',
  process: 'p',
  exitCode: 0,
  signal: null,
  signo: null,
  wallUs: 1000,
  rusage: { userUs: 3000, systemUs: 2000, maxRssKb: 100 },
  execError: null,
  memoryUsedBytes: null,
  oomKilled: false,
  violation: null,
  outputFiles: { stdout: null, stderr: null },
  outputFileLimit: false,
  ...over,
});

describe('limits.addressSpace', () => {
  it('parses sizes, refuses nonsense, and becomes RLIMIT_AS (over the rlimit fallback)', () => {
    expect(resolveSpawnLimits({ addressSpace: '256M' }).addressSpace).toBe(256 * 2 ** 20);
    expect(() => resolveSpawnLimits({ addressSpace: 0 })).toThrow(SandboxOptionsError);
    expect(() => resolveSpawnLimits({ addressSpace: 'lots' })).toThrow(/limits\.addressSpace/);
    expect(rlimitsFor({ addressSpace: 100 }, {}, false)).toContainEqual(['as', 100, 100]);
    const both = rlimitsFor({ addressSpace: 100, memory: 500 }, {}, true).filter(([n]) => n === 'as');
    expect(both).toEqual([['as', 100, 100]]);
  });
});

describe('seccomp violations', () => {
  it('are named from the architecture tables, with the number the kernel gave', () => {
    expect(violationOf({ nr: 101, arch: 0xc000003e })).toEqual({ syscall: 'ptrace', number: 101 });
    expect(violationOf({ nr: 117, arch: 0xc00000b7 })).toEqual({ syscall: 'ptrace', number: 117 });
    expect(violationOf({ nr: 20, arch: 0x40000003 })).toEqual({ syscall: 'i386:20', number: 20 });
    expect(violationOf({ nr: -1, arch: 0 })).toEqual({ syscall: 'arch 0x0:-1', number: -1 });
    expect(violationOf(null)).toBeNull();
  });

  it('make the status security-violation', () => {
    expect(statusOf(null, 'SIGSYS', null, true)).toBe('security-violation');
    expect(statusOf(null, 'SIGKILL', null, true)).toBe('security-violation');
    expect(statusOf(0, null, null, false)).toBe('ok');
  });
});

describe('CPU time from execve (no cgroup: rusage)', () => {
  it('takes the pre-exec CPU time off the system part, and never below zero', () => {
    const m = new SpawnMonitor({}, undefined, () => {});
    m.started(1500);
    expect(m.finish(exit()).cpuTimeMs).toEqual({ user: 3, system: 0.5, total: 3.5 });
    const n = new SpawnMonitor({}, undefined, () => {});
    n.started(6000);
    expect(n.finish(exit()).cpuTimeMs).toEqual({ user: 0, system: 0, total: 0 });
  });

  it('reports the reaper memory sample and its v1 OOM tree kill', () => {
    const m = new SpawnMonitor({}, undefined, () => {});
    m.started();
    const r = m.finish(exit({ memoryUsedBytes: 1234, oomKilled: true, signal: 'SIGKILL', exitCode: null }));
    expect(r).toMatchObject({ memoryUsedBytes: 1234, oomKilled: true, limitExceeded: 'memory' });
  });
});

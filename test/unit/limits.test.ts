import { describe, expect, it } from 'vitest';
import { resolveSandboxLimits, resolveSpawnLimits, cgroupLimitNames } from '../../src/limits/limits.js';
import { defaultOpenFiles, rlimitsFor } from '../../src/limits/rlimits.js';
import { SandboxOptionsError } from '../../src/errors/sandbox-error.js';
import { statusOf } from '../../src/process/spawn-result.js';

describe('limits', () => {
  it('resolves units', () => {
    expect(resolveSandboxLimits({ memory: '256M', pids: 64, cpus: 1.5 })).toEqual({
      memory: 256 * 2 ** 20,
      pids: 64,
      cpus: 1.5,
    });
    expect(resolveSandboxLimits({ disk: '64M' })).toEqual({ disk: 64 * 2 ** 20 });
    expect(
      resolveSpawnLimits({
        cpuTime: '2s',
        wallTime: '5s',
        memory: '128M',
        output: '1M',
        fileSize: '16M',
        openFiles: 64,
        stack: '64M',
      })
    ).toEqual({
      cpuTimeMs: 2000,
      wallTimeMs: 5000,
      memory: 128 * 2 ** 20,
      output: 2 ** 20,
      fileSize: 16 * 2 ** 20,
      openFiles: 64,
      stack: 64 * 2 ** 20,
    });
  });

  it.each([
    [{ memory: '12 parsecs' }, 'limits.memory'],
    [{ memory: 0 }, 'limits.memory'],
    [{ pids: 0 }, 'limits.pids'],
    [{ pids: 1.5 }, 'limits.pids'],
    [{ cpus: 0 }, 'limits.cpus'],
    [{ cpus: '2' }, 'limits.cpus'],
    [{ ioWeight: 20000 }, 'limits.ioWeight'],
    [{ swap: 1 }, 'limits.swap'],
    [{ disk: '1 floppy' }, 'limits.disk'],
    [{ disk: 0 }, 'limits.disk'],
  ])('sandbox limits %j name %s', (limits, field) => {
    try {
      resolveSandboxLimits(limits);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SandboxOptionsError);
      expect((e as SandboxOptionsError).field).toBe(field);
    }
  });

  it.each([
    [{ cpuTime: 'soon' }, 'limits.cpuTime'],
    [{ wallTime: 0 }, 'limits.wallTime'],
    [{ openFiles: -1 }, 'limits.openFiles'],
    [{ output: '1X' }, 'limits.output'],
    [{ cpu: 1 }, 'limits.cpu'],
  ])('spawn limits %j name %s', (limits, field) => {
    expect(() => resolveSpawnLimits(limits)).toThrow(new RegExp(field.replace('.', '\\.')));
  });

  it('lists limits that need cgroups', () => {
    expect(cgroupLimitNames({ memory: 1, cpus: 1 }, { pids: 3 })).toEqual(['memory', 'pids', 'cpu']);
    expect(cgroupLimitNames({}, { cpuTimeMs: 1, output: 3 })).toEqual(['cpuTime']);
    expect(cgroupLimitNames({}, { wallTimeMs: 1, output: 3, fileSize: 1 })).toEqual([]);
  });

  it("a command gets at most 4096 open files by default, and at most half the helper's", () => {
    expect(defaultOpenFiles(20_000)).toBe(4096);
    expect(defaultOpenFiles(1_048_576)).toBe(4096);
    expect(defaultOpenFiles(1024)).toBe(512);
    expect(defaultOpenFiles(100)).toBe(64);
  });

  it('turns limits into rlimits, core dumps always off', () => {
    expect(rlimitsFor({}, {}, false)).toEqual([
      ['core', 0, 0],
      ['nofile', defaultOpenFiles(), defaultOpenFiles()],
    ]);
    expect(rlimitsFor({ fileSize: 10, openFiles: 5, stack: 99, cpuTimeMs: 1500 }, {}, false)).toEqual([
      ['core', 0, 0],
      ['fsize', 10, 10],
      ['nofile', 5, 5],
      ['stack', 99, 99],
      ['cpu', 3, 4],
    ]);
    expect(rlimitsFor({}, { memory: 100 }, true)).toContainEqual(['as', 100, 100]);
    expect(rlimitsFor({}, { memory: 100 }, false)).not.toContainEqual(['as', 100, 100]);
  });

  it.each([
    [0, null, null, 'ok'],
    [1, null, null, 'nonzero-exit'],
    [null, 'SIGTERM', null, 'signaled'],
    [null, 'SIGKILL', 'cpuTime', 'time-limit'],
    [null, 'SIGKILL', 'wallTime', 'wall-time-limit'],
    [null, 'SIGKILL', 'memory', 'memory-limit'],
    [null, 'SIGKILL', 'output', 'output-limit'],
    [null, 'SIGXFSZ', 'fileSize', 'file-size-limit'],
  ] as const)('status of exit %s signal %s limit %s is %s', (code, signal, limit, status) => {
    expect(statusOf(code, signal, limit)).toBe(status);
  });
});

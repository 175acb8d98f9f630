import { describe, expect, it } from 'vitest';
import { parseBytes, parseDuration } from '../../src/limits/units.js';
import { SandboxOptionsError } from '../../src/errors/sandbox-error.js';

describe('parseBytes', () => {
  it.each([
    [1024, 1024],
    ['512', 512],
    ['64k', 65536],
    ['256M', 256 * 1024 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
    ['2GiB', 2 * 1024 ** 3],
    [' 10 mb ', 10 * 1024 ** 2],
    ['0', 0],
  ])('%j → %d bytes', (input, bytes) => {
    expect(parseBytes('limits.memory', input)).toBe(bytes);
  });

  it.each([['-1'], [-5], ['12 parsecs'], [''], [NaN], [Infinity], [null], [{}], ['1e3']])(
    'rejects %j naming the field',
    (input) => {
      expect(() => parseBytes('limits.memory', input)).toThrow(SandboxOptionsError);
      expect(() => parseBytes('limits.memory', input)).toThrow(/limits\.memory/);
    }
  );
});

describe('parseDuration', () => {
  it.each([
    [250, 250],
    ['250ms', 250],
    ['2s', 2000],
    ['1.5m', 90_000],
    ['1h', 3_600_000],
    ['0.5s', 500],
  ])('%j → %d ms', (input, ms) => {
    expect(parseDuration('limits.cpuTime', input)).toBe(ms);
  });

  it.each([['2 fortnights'], ['s'], [-1], [true]])('rejects %j', (input) => {
    const err = (() => {
      try {
        parseDuration('limits.wallTime', input);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SandboxOptionsError);
    expect((err as SandboxOptionsError).field).toBe('limits.wallTime');
  });
});

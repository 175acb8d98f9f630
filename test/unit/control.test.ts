import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect } from 'node:net';
import { describe, expect, test } from 'vitest';
import { SandboxNameInUseError, SandboxOptionsError } from '../../src/index.js';
import { LogRing } from '../../src/sandbox/control-logs.js';
import { claimName, releaseName } from '../../src/sandbox/control-names.js';
import { resolveControlOptions } from '../../src/sandbox/control-options.js';
import { readJsonLines } from '../../src/sandbox/control-protocol.js';
import { sumIoStat } from '../../src/cgroup/stats.js';
import { processStartTime } from '../../src/platform/session.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';

describe('kept logs', () => {
  test('keep the last bytes in order, never more than the capacity', () => {
    const ring = new LogRing(10);
    ring.push(1, Buffer.from('abcd'));
    ring.push(2, Buffer.from('efgh'));
    ring.push(1, Buffer.from('ijkl'));
    const kept = ring.snapshot();
    expect(kept.map((c) => `${c.fd}${c.data}`).join('|')).toBe('1cd|2efgh|1ijkl');
    expect(kept.reduce((n, c) => n + c.data.length, 0)).toBe(10);
    ring.push(2, Buffer.alloc(1000, 'z'));
    expect(ring.snapshot()).toEqual([{ fd: 2, data: Buffer.alloc(10, 'z') }]);
  });
});

describe('io.stat', () => {
  test('sums read and written bytes over devices', () => {
    const text = '8:0 rbytes=100 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=5 wbytes=7 rios=1 wios=1\n';
    expect(sumIoStat(text)).toEqual({ readBytes: 105, writeBytes: 27 });
    expect(sumIoStat('')).toEqual({ readBytes: 0, writeBytes: 0 });
  });
});

describe('control options', () => {
  test('defaults, and each bad value names its field', () => {
    expect(resolveControlOptions({})).toEqual({
      name: undefined,
      labels: {},
      keepLogs: 0,
      statsInterval: undefined,
      timeout: undefined,
    });
    expect(resolveControlOptions({ keepLogs: true, timeout: '5m', statsInterval: '1s' })).toMatchObject({
      keepLogs: 1 << 20,
      timeout: 300_000,
      statsInterval: 1000,
    });
    const field = (o: Parameters<typeof resolveControlOptions>[0]) => {
      try {
        resolveControlOptions(o);
      } catch (e) {
        expect(e).toBeInstanceOf(SandboxOptionsError);
        return (e as SandboxOptionsError).field;
      }
      return 'accepted';
    };
    expect(field({ name: 'ok-name_1.x' })).toBe('accepted');
    expect(field({ name: 7 })).toBe('name');
    expect(field({ timeout: '0s' })).toBe('timeout');
    expect(field({ timeout: true as never })).toBe('timeout');
    expect(field({ statsInterval: 10 })).toBe('statsInterval');
    expect(field({ keepLogs: 0 })).toBe('keepLogs');
    expect(field({ labels: [] })).toBe('labels');
  });
});

describe('names', () => {
  test('one live holder per state directory; a dead holder is taken over; release frees it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-names-'));
    try {
      const alive = `${process.pid}-${processStartTime(process.pid)}-aaaaaa`;
      claimName(dir, 'web', alive, 'sb-000000000001');
      expect(() => claimName(dir, 'web', alive, 'sb-000000000002')).toThrow(SandboxNameInUseError);
      releaseName(dir, 'web', 'sb-000000000002'); // not the holder: nothing changes
      expect(() => claimName(dir, 'web', alive, 'sb-000000000002')).toThrow(SandboxNameInUseError);
      releaseName(dir, 'web', 'sb-000000000001');
      claimName(dir, 'web', alive, 'sb-000000000002');
      // A holder whose process is gone (kill -9) does not keep the name.
      writeFileSync(join(dir, 'names', 'db'), JSON.stringify({ session: '1-1-dead00', sandbox: 'sb-00000000000d' }));
      claimName(dir, 'db', alive, 'sb-000000000003');
      expect(JSON.parse(readFileSync(join(dir, 'names', 'db'), 'utf8')).sandbox).toBe('sb-000000000003');
    } finally {
      removeTreeSync(dir);
    }
  });
});

describe('JSON lines', () => {
  test('a line over the cap stops reading with one complaint; good lines before it arrive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-lines-'));
    const path = join(dir, 's.sock');
    const got: unknown[] = [];
    const bad: string[] = [];
    const server = createServer((socket) =>
      readJsonLines(
        socket,
        64,
        (m) => got.push(m),
        (why) => bad.push(why)
      )
    );
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const client = connect(path);
      client.write('{"a":1}\n{"b":');
      client.write('2}\n');
      client.write(`{"c":"${'x'.repeat(100)}"}\n{"d":4}\n`);
      await new Promise((r) => setTimeout(r, 200));
      client.destroy();
      expect(got).toEqual([{ a: 1 }, { b: 2 }]);
      expect(bad).toEqual(['a line is longer than 64 bytes']);
    } finally {
      server.close();
      removeTreeSync(dir);
    }
  });
});

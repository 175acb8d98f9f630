import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SandboxLineTooLongError, SandboxOptionsError, SandboxPipe } from '../../src/index.js';
import { OutputCollector } from '../../src/process/output-collector.js';
import { readLines } from '../../src/process/line-reader.js';
import { resolveSpawnOptions } from '../../src/process/spawn-options.js';
import { streamLimit } from '../../src/process/spawn-request.js';

describe('stdio options', () => {
  it.for([
    [{ stdin: { path: 'relative' } }, 'stdin.path'],
    [{ stdin: { path: '/a', mode: 1 } }, 'stdin.mode'],
    [{ stdin: { data: 'x' } }, 'stdin.asFile'],
    [{ stdin: { data: 5, asFile: true } }, 'stdin.data'],
    [{ stdin: 42 }, 'stdin'],
    [{ stdout: { path: '/a', append: 'yes' } }, 'stdout.append'],
    [{ stderr: 'inherit' }, 'stderr'],
    [{ encoding: 'latin1' }, 'encoding'],
    [{ limits: { stdout: 'lots' } }, 'limits.stdout'],
  ] as const)('%j is refused naming %s', ([options, field]) => {
    const call = () => resolveSpawnOptions(['true'], options as never);
    expect(call).toThrow(SandboxOptionsError);
    expect(call).toThrow(expect.objectContaining({ field }));
  });

  it('pipe ends: the read end is stdin only, a taken end is refused, stdout and stderr may share one', () => {
    const p = new SandboxPipe();
    expect(() => resolveSpawnOptions(['cat'], { stdout: p.readEnd })).toThrow(/writeEnd/);
    const o = resolveSpawnOptions(['cat'], { stdout: p.writeEnd, stderr: p.writeEnd });
    expect(o.stdout).toBe(p.writeEnd);
    expect(p.writeEnd.given).toBe(false); // checked, not taken: only a spawn that starts takes it
    p.writeEnd.take();
    expect(() => resolveSpawnOptions(['cat'], { stdout: p.writeEnd })).toThrow(/already given/);
  });

  it('a stream may keep the lower of its own limit and the total', () => {
    const o = resolveSpawnOptions(['true'], { limits: { output: 100, stdout: 40 } });
    expect([streamLimit(o, 'stdout'), streamLimit(o, 'stderr')]).toEqual([40, 100]);
  });
});

describe('OutputCollector', () => {
  it('keeps exactly its limit and shares the total with the other stream', () => {
    const shared = { bytes: 10 };
    const a = new OutputCollector(8, shared),
      b = new OutputCollector(8, shared);
    a.push(Buffer.from('123456'));
    b.push(Buffer.from('abcdef'));
    a.push(Buffer.from('789'));
    expect([a.text(), b.text()]).toEqual(['123456', 'abcd']);
    expect([a.totalBytes, b.totalBytes, a.truncated, b.truncated]).toEqual([9, 6, true, true]);
  });
});

describe('readLines', () => {
  it('splits at \\n across chunks, drops \\r before it, yields a last line without \\n', async () => {
    const s = new PassThrough();
    const got: string[] = [];
    const done = (async () => {
      for await (const l of readLines(s, 100)) got.push(l);
    })();
    s.write('a\r\nb');
    s.write('c\n\nd');
    s.end();
    await done;
    expect(got).toEqual(['a', 'bc', '', 'd']);
  });

  it('a line longer than maxLength ends the iteration after the lines before it', async () => {
    const s = new PassThrough();
    const got: string[] = [];
    const done = (async () => {
      for await (const l of readLines(s, 4)) got.push(l);
    })();
    s.write('1234\n12');
    s.write('345');
    await expect(done).rejects.toBeInstanceOf(SandboxLineTooLongError);
    expect(got).toEqual(['1234']);
  });

  it('lines nobody takes pause the stream instead of piling up', async () => {
    const s = new PassThrough();
    const it = readLines(s, 100)[Symbol.asyncIterator]();
    const first = it.next();
    for (let i = 0; i < 300_000; i++) s.write('0123456789\n');
    expect((await first).value).toBe('0123456789');
    expect(s.isPaused()).toBe(true);
    await it.return(undefined);
    expect(s.isPaused()).toBe(false);
  });
});

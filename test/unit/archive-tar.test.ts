import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readTar } from '../../src/archive/tar-reader.js';
import { tarEnd, tarHeader, tarPadding } from '../../src/archive/tar-writer.js';
import { safeComponents } from '../../src/images/layer-unpack.js';
import { defaultCommandOf, parseImageConfig, userSpecOf } from '../../src/images/image-config.js';
import { digestHex } from '../../src/images/layer-store.js';
import { SandboxImageError } from '../../src/index.js';

async function entries(buf: Buffer) {
  const out: Array<Record<string, unknown>> = [];
  for await (const e of readTar(Readable.from([buf]))) {
    const chunks: Buffer[] = [];
    for await (const c of e.data) chunks.push(c);
    out.push({
      path: e.path,
      type: e.type,
      mode: e.mode,
      linkname: e.linkname,
      data: Buffer.concat(chunks).toString(),
      xattrs: Object.keys(e.xattrs),
    });
  }
  return out;
}

describe('tar writer and reader', () => {
  it('round-trip long names, symlinks, xattrs and data', async () => {
    const long = `${'d'.repeat(120)}/file-é`;
    const data = Buffer.from('hello');
    const tar = Buffer.concat([
      tarHeader({
        path: long,
        type: 'file',
        mode: 0o4755,
        uid: 0,
        gid: 0,
        mtime: 1,
        size: 5,
        xattrs: { 'user.k': Buffer.from('v') },
      }),
      data,
      tarPadding(5),
      tarHeader({ path: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1, linkname: 'x'.repeat(150) }),
      tarHeader({ path: 'd/', type: 'dir', mode: 0o700, uid: 0, gid: 0, mtime: 1 }),
      tarEnd(),
    ]);
    expect(await entries(tar)).toEqual([
      { path: long, type: 'file', mode: 0o4755, linkname: '', data: 'hello', xattrs: ['user.k'] },
      { path: 'l', type: 'symlink', mode: 0o777, linkname: 'x'.repeat(150), data: '', xattrs: [] },
      { path: 'd/', type: 'dir', mode: 0o700, linkname: '', data: '', xattrs: [] },
    ]);
  });

  it('skips unread data and rejects corrupt headers', async () => {
    const tar = Buffer.concat([
      tarHeader({ path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3 }),
      Buffer.from('abc'),
      tarPadding(3),
      tarHeader({ path: 'b', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }),
      tarEnd(),
    ]);
    const names: string[] = [];
    for await (const e of readTar(Readable.from([tar]))) names.push(e.path);
    expect(names).toEqual(['a', 'b']);
    const bad = Buffer.from(tar);
    bad[10] ^= 1;
    await expect(entries(bad)).rejects.toBeInstanceOf(SandboxImageError);
  });
});

describe('image helpers', () => {
  it.each([
    ['a/b', ['a', 'b']],
    ['./a//b/', ['a', 'b']],
    ['/abs/x', ['abs', 'x']],
  ])('safeComponents(%s)', (p, want) => {
    expect(safeComponents(p)).toEqual(want);
  });
  it('refuses .. in layer paths', () => {
    expect(() => safeComponents('a/../../b')).toThrow(SandboxImageError);
  });
  it('parses an OCI config and builds the default command', () => {
    const c = parseImageConfig({
      config: { Env: ['A=1', 'B=x=y'], WorkingDir: '/w', User: '1000:100', Entrypoint: ['/e'], Cmd: ['c'] },
    });
    expect(c).toMatchObject({ env: { A: '1', B: 'x=y' }, workingDir: '/w', user: '1000:100' });
    expect(defaultCommandOf(c)).toEqual(['/e', 'c']);
    expect(defaultCommandOf(c, ['x'])).toEqual(['/e', 'x']);
    expect(userSpecOf('1000:100')).toEqual({ uid: 1000, gid: 100 });
    expect(userSpecOf('app')).toBe('app');
    expect(userSpecOf(undefined)).toBeUndefined();
  });
  it('layer ids', () => {
    expect(digestHex(`sha256:${'a'.repeat(64)}`)).toBe('a'.repeat(64));
    expect(digestHex(`local:${'b'.repeat(32)}`)).toBe(`local-${'b'.repeat(32)}`);
    expect(() => digestHex('sha256:../x')).toThrow(SandboxImageError);
  });
});

describe('PAX 1.0 sparse files', () => {
  const extents = [
    { offset: 4096, length: 3 },
    { offset: 1 << 20, length: 5 },
  ];
  const archive = (size: number) =>
    Buffer.concat([
      tarHeader({
        path: `dir/${'s'.repeat(120)}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size,
        sparse: extents,
      }),
      Buffer.from('abc'),
      Buffer.from('hello'),
      tarPadding(8),
      tarHeader({ path: 'after', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2 }),
      Buffer.from('ok'),
      tarPadding(2),
      tarEnd(),
    ]);

  it('round-trips: the full content with zeros in the holes, or the extents and their bytes', async () => {
    const size = (1 << 20) + 100;
    const [sparse, after] = await entries(archive(size));
    const want = Buffer.alloc(size);
    want.write('abc', 4096);
    want.write('hello', 1 << 20);
    expect(sparse!.path).toBe(`dir/${'s'.repeat(120)}`);
    expect(Buffer.from(sparse!.data as string, 'latin1').equals(want)).toBe(true);
    expect(after).toMatchObject({ path: 'after', data: 'ok' });
    for await (const e of readTar(Readable.from([archive(size)]))) {
      if (!e.sparse) continue;
      expect(e.size).toBe(size);
      expect(e.sparse.extents).toEqual(extents);
      const segments: string[] = [];
      for await (const c of e.sparse.segments) segments.push(c.toString());
      expect(segments.join('')).toBe('abchello');
    }
  });

  it("a map past the file's size is a format error", async () => {
    await expect(entries(archive(100))).rejects.toMatchObject({ reason: 'format' });
  });
});

describe('tar reader: strict fields and sparse maps', () => {
  const file = (path: string, size: number) =>
    tarHeader({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size });
  const fixSum = (h: Buffer) => {
    h.fill(32, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return h;
  };
  const rec = (k: string, v: string) => {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return `${len}${body}`;
  };
  const pax = (records: Array<[string, string]>) => {
    const body = Buffer.from(records.map(([k, v]) => rec(k, v)).join(''));
    const h = fixSum(
      Buffer.from(
        tarHeader({ path: 'PaxHeader', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length })
      ).fill('x', 156, 157)
    );
    return [fixSum(h), body, tarPadding(body.length)];
  };
  const reason = async (tar: Buffer) => ((await entries(tar).catch((e: unknown) => e)) as SandboxImageError).reason;

  it('a size field that is not octal is a format error', async () => {
    const h = file('a', 3);
    h.write('12z45670000\0', 124, 'latin1');
    expect(await reason(Buffer.concat([fixSum(h), Buffer.alloc(512), tarEnd()]))).toBe('format');
  });

  it('an empty pax value removes the key: the header name is used', async () => {
    const tar = Buffer.concat([
      ...pax([
        ['path', 'abc'],
        ['path', ''],
      ]),
      file('real', 0),
      tarEnd(),
    ]);
    expect((await entries(tar)).map((e) => e.path)).toEqual(['real']);
  });

  it('PAX 0.0 sparse records must come in offset/numbytes pairs and match the stored bytes', async () => {
    const bad = Buffer.concat([
      ...pax([
        ['GNU.sparse.size', '100000'],
        ['GNU.sparse.numbytes', '3'],
        ['GNU.sparse.offset', '9'],
      ]),
      file('s', 3),
      Buffer.from('abc'),
      tarPadding(3),
      tarEnd(),
    ]);
    expect(await reason(bad)).toBe('format');
    const good = Buffer.concat([
      ...pax([
        ['GNU.sparse.size', '100000'],
        ['GNU.sparse.offset', '99990'],
        ['GNU.sparse.numbytes', '3'],
      ]),
      file('s', 3),
      Buffer.from('abc'),
      tarPadding(3),
      tarEnd(),
    ]);
    const [e] = await entries(good);
    expect((e!.data as string).length).toBe(100000);
    expect((e!.data as string).slice(99990, 99993)).toBe('abc');
    const short = Buffer.concat([
      ...pax([
        ['GNU.sparse.size', '100000'],
        ['GNU.sparse.offset', '99990'],
        ['GNU.sparse.numbytes', '5'],
      ]),
      file('s', 3),
      Buffer.from('abc'),
      tarPadding(3),
      tarEnd(),
    ]);
    expect(await reason(short)).toBe('format');
  });
});

// Untrusted images, second pass: tar metadata that smuggles names or sizes, hostile image
// directories (index, manifests, configs: bad shapes, huge files, FIFOs, symlinks to host
// files), too many layers, and the same hostile image imported by several processes at once.
// Every host file an attack aims at is made by the test in its own temp dir.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { Image, LayerStore } from '../../src/index.js';
import { SandboxImageError } from '../../src/errors/sandbox-error.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../../src/archive/tar-writer.js';
import { dist } from '../helpers/dist.js';
import { busyboxRootfs, layerTar, ociLayout } from '../helpers/images.js';
import { probePath } from '../helpers/probe.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';
import { attackers, capabilitiesOf } from '../helpers/security-outcomes.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const leftovers = (store: LayerStore) => readdirSync(join(store.root, 'tmp'));

/** The typed error of an import, or the image; an untyped error fails the row. */
async function outcome(p: Promise<Image>): Promise<Image | SandboxImageError> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof SandboxImageError) return err;
    throw new Error(`an untyped error: ${String(err)}`, { cause: err });
  }
}

/** A raw tar header block of any type flag (tarHeader only writes the kinds sandkit makes). */
function rawHeader(flag: string, size: number, name = 'meta'): Buffer {
  const h = tarHeader({ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size });
  h[156] = flag.charCodeAt(0);
  h.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** A pax record list (`len key=value\n`) as the body of an `x` or `g` entry. */
function paxBody(records: Record<string, string | Buffer>): Buffer {
  return Buffer.concat(
    Object.entries(records).map(([k, v]) => {
      const rest = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
      let len = rest.length + 1;
      while (String(len).length + rest.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), rest]);
    })
  );
}

/** A metadata entry (flag x, g, L or K) followed by a real one. */
function withMeta(flag: string, body: Buffer, entry: TarWriteEntry, data = Buffer.alloc(0)): Buffer[] {
  return [rawHeader(flag, body.length), body, tarPadding(body.length), tarHeader(entry), data, tarPadding(data.length)];
}

const file = (path: string, size = 0): TarWriteEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1_700_000_000,
  size,
});

/** A canary tree: a file and a directory the attacks aim at, and a listing to compare. */
function canary(dir: string) {
  writeFileSync(join(dir, 'target'), 'canary\n', { mode: 0o644 });
  mkdirSync(join(dir, 'd'), { mode: 0o700 });
  writeFileSync(join(dir, 'd', 'secret'), 'host secret\n', { mode: 0o600 });
  const snapshot = () =>
    execFileSync('find', [dir, '-printf', '%p %y %m %U:%G %n %s %T@\\n'], { encoding: 'utf8' }) +
    readFileSync(join(dir, 'target'), 'utf8') +
    readFileSync(join(dir, 'd', 'secret'), 'utf8');
  return { dir, file: join(dir, 'target'), secret: join(dir, 'd', 'secret'), snapshot };
}

describe('tar metadata entries', () => {
  it.for(['x', 'g', 'L', 'K'])(
    'a %s entry of 64 MiB is refused at once, not buffered (it was quadratic: minutes)',
    async (flag, { tempDir }) => {
      const dir = tempDir();
      const store = new LayerStore(join(dir, 'store'));
      const size = 64 << 20;
      const tar = gzipSync(
        Buffer.concat([
          rawHeader(flag, size),
          Buffer.alloc(size, 0x41),
          tarPadding(size),
          tarHeader(file('f')),
          tarEnd(),
        ])
      );
      writeFileSync(join(dir, 'meta.tar.gz'), tar);
      const started = Date.now();
      const err = await outcome(Image.fromTar(join(dir, 'meta.tar.gz'), { store }));
      expect((err as SandboxImageError).reason, String(err)).toBe('format');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
      expect(leftovers(store)).toEqual([]);
    }
  );

  it('many global headers together are capped too', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++)
      parts.push(...withMeta('g', paxBody({ [`comment${i}`]: 'c'.repeat(60_000) }), file(`f${i}`)));
    writeFileSync(join(dir, 'g.tar'), Buffer.concat([...parts, tarEnd()]));
    const err = await outcome(Image.fromTar(join(dir, 'g.tar'), { store }));
    expect((err as SandboxImageError).reason).toBe('format');
    expect(leftovers(store)).toEqual([]);
  });

  it('sparse extents count against maxEntries: one file of 200,000 one-byte extents is 200,000 writes (it imported past the cap, 26 s)', async ({
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const n = 200_000;
    const sparse = Array.from({ length: n }, (_, i) => ({ offset: i * 8192, length: 1 }));
    const data = Buffer.alloc(n, 0x61);
    writeFileSync(
      join(dir, 's.tar.gz'),
      gzipSync(Buffer.concat([tarHeader({ ...file('sp', n * 8192), sparse }), data, tarPadding(n), tarEnd()]))
    );
    const started = Date.now();
    const err = await outcome(Image.fromTar(join(dir, 's.tar.gz'), { store, maxEntries: 100_000 }));
    expect((err as SandboxImageError).reason, String(err)).toBe('too-large');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(leftovers(store)).toEqual([]);
  });

  // Names and sizes from pax records, GNU long names/links and global headers go through the same checks as header names.
  const smuggled: Array<[string, (c: ReturnType<typeof canary>) => Buffer[]]> = [
    ['a pax path climbing out', () => withMeta('x', paxBody({ path: '../../../../../../../../tmp/x' }), file('ok'))],
    ['a pax path with a NUL', (c) => withMeta('x', paxBody({ path: Buffer.from(`a\0${c.file}`) }), file('ok'))],
    ['a pax path of ./..', () => withMeta('x', paxBody({ path: './..' }), { ...file('ok'), type: 'dir' })],
    [
      'a pax linkpath for a hard link to a host file',
      (c) => withMeta('x', paxBody({ linkpath: c.file }), { ...file('h'), type: 'link', linkname: 'ok' }),
    ],
    [
      'a GNU long name climbing out',
      () => withMeta('L', Buffer.from(`${'a/'.repeat(200)}${'../'.repeat(260)}x\0`), file('ok')),
    ],
    [
      'a GNU long link to a host file',
      (c) => withMeta('K', Buffer.from(`${c.file}\0`), { ...file('h'), type: 'link', linkname: 'ok' }),
    ],
    [
      'a global path applied to a symlink and then a file through it',
      (c) => [
        ...withMeta('g', paxBody({ path: 'esc' }), { ...file('a'), type: 'symlink', linkname: c.dir }),
        ...withMeta('x', paxBody({ path: 'esc/target' }), file('b', 5), Buffer.from('pwned')),
      ],
    ],
    [
      'a pax size override hiding a second header in a file',
      (c) => [
        ...withMeta(
          'x',
          paxBody({ size: '1024' }),
          file('f', 0),
          Buffer.concat([tarHeader({ ...file('s'), type: 'symlink', linkname: c.dir }), Buffer.alloc(512)])
        ),
        tarHeader(file('s/target', 5)),
        Buffer.from('pwned'),
        tarPadding(5),
      ],
    ],
    ['a pax size of 2^63', () => withMeta('x', paxBody({ size: '9223372036854775808' }), file('f'))],
    ['a whiteout of .. and of the root', () => [tarHeader(file('a/.wh...')), tarHeader(file('.wh.'))]],
    [
      'an opaque marker named by a pax path below a symlink',
      (c) => [
        tarHeader({ ...file('s'), type: 'symlink', linkname: c.dir }),
        ...withMeta('x', paxBody({ path: 's/.wh..wh..opq' }), file('x')),
      ],
    ],
    [
      'a hard-link chain ending at a symlink to a host file',
      (c) => [
        tarHeader({ ...file('s'), type: 'symlink', linkname: c.file }),
        tarHeader({ ...file('h1'), type: 'link', linkname: 's' }),
        tarHeader({ ...file('h2'), type: 'link', linkname: 'h1' }),
        tarHeader({ ...file('h2/x', 5) }),
        Buffer.from('pwned'),
        tarPadding(5),
      ],
    ],
    [
      'a component of 300 bytes and a path past PATH_MAX',
      () => [
        tarHeader(file('x'.repeat(300))),
        ...withMeta('x', paxBody({ path: `${'d'.repeat(250)}/`.repeat(20) }), file('y')),
      ],
    ],
  ];

  it.for(smuggled)('%s: typed error or a safe layer; the host is untouched', async ([, make], { tempDir }) => {
    const c = canary(tempDir('sandkit-canary-'));
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const before = c.snapshot();
    writeFileSync(join(dir, 'l.tar'), Buffer.concat([...make(c), tarEnd()]));
    const result = await outcome(Image.fromTar(join(dir, 'l.tar'), { store }));
    expect(c.snapshot()).toBe(before);
    if (result instanceof SandboxImageError) expect(['unsafe-entry', 'format']).toContain(result.reason);
    for (const layer of readdirSync(join(store.root, 'layers'))) {
      expect(execFileSync('find', [join(store.root, 'layers', layer), '-samefile', c.file], { encoding: 'utf8' })).toBe(
        ''
      );
    }
    expect(leftovers(store)).toEqual([]);
  });
});

/** Rewrites a layout's index, manifest and config (each a function of the parsed JSON), refiling the blobs. */
function tamper(
  layout: string,
  change: { manifest?: (m: any) => unknown; config?: (c: any) => unknown; index?: (i: any) => unknown }
): void {
  const blob = (digest: string) => join(layout, 'blobs', 'sha256', digest.slice(7));
  const put = (data: Buffer) => {
    writeFileSync(blob(sha(data)), data);
    return sha(data);
  };
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  if (change.config) {
    const config = Buffer.from(
      JSON.stringify(change.config(JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'))))
    );
    manifest.config = { ...manifest.config, digest: put(config), size: config.length };
  }
  const m = Buffer.from(JSON.stringify(change.manifest ? change.manifest(manifest) : manifest));
  index.manifests[0].digest = put(m);
  writeFileSync(join(layout, 'index.json'), JSON.stringify(change.index ? change.index(index) : index));
}

const one = () => layerTar([{ path: 'f', content: 'x' }]);

describe('hostile image directories', () => {
  const shapes: Array<[string, (layout: string) => void]> = [
    ['index.json not JSON', (l) => writeFileSync(join(l, 'index.json'), '{not json')],
    ['manifests not a list', (l) => writeFileSync(join(l, 'index.json'), '{"manifests": 5}')],
    ['a manifest descriptor that is a number', (l) => writeFileSync(join(l, 'index.json'), '{"manifests": [5]}')],
    [
      'a digest with ../',
      (l) =>
        writeFileSync(
          join(l, 'index.json'),
          JSON.stringify({ manifests: [{ digest: 'sha256:../../../../etc/passwd' }] })
        ),
    ],
    [
      'a digest of another algorithm',
      (l) =>
        writeFileSync(join(l, 'index.json'), JSON.stringify({ manifests: [{ digest: `sha512:${'0'.repeat(128)}` }] })),
    ],
    ['layers not a list', (l) => tamper(l, { manifest: (m) => ({ ...m, layers: 'blobs/../../etc' }) })],
    ['no config descriptor', (l) => tamper(l, { manifest: (m) => ({ ...m, config: null }) })],
    [
      'a manifest typed as an index',
      (l) =>
        tamper(l, {
          index: (i) => ({ manifests: [{ ...i.manifests[0], mediaType: 'application/vnd.oci.image.index.v1+json' }] }),
        }),
    ],
    [
      'more diff ids than layers',
      (l) =>
        tamper(l, {
          config: (c) => ({ ...c, rootfs: { type: 'layers', diff_ids: [...c.rootfs.diff_ids, c.rootfs.diff_ids[0]] } }),
        }),
    ],
    [
      'no diff ids for a layer',
      (l) => tamper(l, { config: (c) => ({ ...c, rootfs: { type: 'layers', diff_ids: [] } }) }),
    ],
    [
      'diff ids that are not digests',
      (l) => tamper(l, { config: (c) => ({ ...c, rootfs: { type: 'layers', diff_ids: [{ x: 1 }] } }) }),
    ],
    [
      'a 9 MiB index',
      (l) => writeFileSync(join(l, 'index.json'), JSON.stringify({ manifests: [], pad: 'x'.repeat(9 << 20) })),
    ],
    [
      'a deeply nested index',
      (l) => writeFileSync(join(l, 'index.json'), `${'['.repeat(1 << 20)}${']'.repeat(1 << 20)}`),
    ],
  ];

  it.for(shapes)('%s: a typed error, nothing left behind', async ([, spoil], { tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const layout = ociLayout(join(dir, 'img'), [one()]);
    spoil(layout);
    const err = await outcome(Image.fromOCI(layout, { store }));
    expect(err).toBeInstanceOf(SandboxImageError);
    expect(['format', 'too-large', 'digest-mismatch']).toContain((err as SandboxImageError).reason);
    expect(readdirSync(join(store.root, 'images'))).toEqual([]);
    expect(leftovers(store)).toEqual([]);
  });

  it('a FIFO, a huge sparse file and a symlink to a host file as index.json, blob or config: refused, never read', async ({
    tempDir,
  }) => {
    const c = canary(tempDir('sandkit-canary-'));
    writeFileSync(c.secret, '{"manifests": [], "secret": "host secret"}\n');
    const huge = join(c.dir, 'huge');
    writeFileSync(huge, '');
    truncateSync(huge, 64 * 1024 ** 3); // a stand-in for /dev/zero: reading it whole would exhaust memory
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const cases: Array<[string, (layout: string) => void]> = [
      [
        'index.json a FIFO',
        (l) => {
          rmSync(join(l, 'index.json'));
          execFileSync('mkfifo', [join(l, 'index.json')]);
        },
      ],
      [
        'index.json -> a host file',
        (l) => {
          rmSync(join(l, 'index.json'));
          symlinkSync(c.secret, join(l, 'index.json'));
        },
      ],
      [
        'index.json -> a huge host file',
        (l) => {
          rmSync(join(l, 'index.json'));
          symlinkSync(huge, join(l, 'index.json'));
        },
      ],
      ['index.json a huge sparse file', (l) => truncateSync(join(l, 'index.json'), 64 * 1024 ** 3)],
      [
        'blobs -> a host directory',
        (l) => {
          rmSync(join(l, 'blobs'), { recursive: true });
          symlinkSync(c.dir, join(l, 'blobs'));
        },
      ],
    ];
    for (const [what, spoil] of cases) {
      const layout = ociLayout(join(dir, `img-${cases.findIndex((x) => x[0] === what)}`), [one()]);
      spoil(layout);
      const started = Date.now();
      const err = await outcome(
        Promise.race([
          Image.fromOCI(layout, { store }),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`${what}: still reading after 10 s`)), 10_000)
          ),
        ])
      );
      expect(err, what).toBeInstanceOf(SandboxImageError);
      expect(['format', 'unsafe-entry', 'too-large'], what).toContain((err as SandboxImageError).reason);
      expect((err as Error).message, what).not.toContain('host secret');
      expect(Date.now() - started, what).toBeLessThan(5_000);
    }
    expect(leftovers(store)).toEqual([]);
  });

  /** A docker-save directory whose one layer is `layerFile` (relative to it); the config names the layer's diff id when given. */
  function dockerDir(dir: string, layerFile: string, diffIds: string[]): string {
    mkdirSync(dir, { recursive: true });
    const cfg = Buffer.from(JSON.stringify({ config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
    writeFileSync(join(dir, `${sha(cfg).slice(7)}.json`), cfg);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify([{ Config: `${sha(cfg).slice(7)}.json`, RepoTags: ['x:latest'], Layers: [layerFile] }])
    );
    return dir;
  }

  it('a docker-save directory whose layer is a symlink to a host tar does not import the host tar', async ({
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const hostTar = layerTar([{ path: 'stolen', content: 'host secret\n' }]);
    writeFileSync(join(dir, 'host.tar'), hostTar); // e.g. another tenant's upload or a backup
    for (const [name, diffIds] of [
      ['correct diff id', [sha(hostTar)]],
      ['no diff id', []],
    ] as const) {
      const d = dockerDir(join(dir, `docker-${diffIds.length}`), 'l/layer.tar', [...diffIds]);
      mkdirSync(join(d, 'l'));
      symlinkSync(join(dir, 'host.tar'), join(d, 'l', 'layer.tar'));
      const result = await outcome(Image.fromOCI(d, { store }));
      expect(result, name).toBeInstanceOf(SandboxImageError);
      expect(['unsafe-entry', 'format'], name).toContain((result as SandboxImageError).reason);
    }
    expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
    expect(leftovers(store)).toEqual([]);
  });

  it('symlinks between layer files inside the directory (as skopeo and docker save make them) still import', async ({
    tempDir,
  }) => {
    const dir = tempDir();
    const tar = layerTar([{ path: 'f', content: 'inside\n' }]);
    const d = dockerDir(join(dir, 'docker'), 'b/layer.tar', [sha(tar)]);
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    writeFileSync(join(d, 'a', 'layer.tar'), tar);
    symlinkSync('../a/layer.tar', join(d, 'b', 'layer.tar'));
    const img = await Image.fromOCI(d, { store: new LayerStore(join(dir, 'store')) });
    expect(readFileSync(join(img.layerStore!.layerDir(img.stack.layers[0]!), 'f'), 'utf8')).toBe('inside\n');
  });

  it('a manifest naming 2,000 layers is refused at once (each was imported: many minutes)', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const layout = ociLayout(join(dir, 'img'), [one()]);
    tamper(layout, {
      manifest: (m) => ({ ...m, layers: Array.from({ length: 2000 }, () => m.layers[0]) }),
      config: (c) => ({
        ...c,
        rootfs: { type: 'layers', diff_ids: Array.from({ length: 2000 }, () => c.rootfs.diff_ids[0]) },
      }),
    });
    const started = Date.now();
    const err = await outcome(Image.fromOCI(layout, { store }));
    expect((err as SandboxImageError).reason).toBe('too-large');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
  });
});

describe('links across layers, images and archives', () => {
  it('a symlink to the host in one layer is a directory or file in the next: each layer unpacks on its own, the host is untouched', async ({
    tempDir,
  }) => {
    const c = canary(tempDir('sandkit-canary-'));
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const before = c.snapshot();
    const lower = Buffer.concat([
      tarHeader({ ...file('d'), type: 'symlink', linkname: c.dir }),
      tarHeader({ ...file('f'), type: 'symlink', linkname: c.file }),
      tarEnd(),
    ]);
    const upper = Buffer.concat([
      tarHeader({ ...file('d'), type: 'dir', mode: 0o6777 }),
      tarHeader(file('d/target', 5)),
      Buffer.from('pwned'),
      tarPadding(5),
      tarHeader({ ...file('f', 5), mode: 0o6777 }),
      Buffer.from('pwned'),
      tarPadding(5),
      tarHeader(file('d/.wh.d')),
      tarHeader(file('.wh..wh..opq')),
      tarEnd(),
    ]);
    const a = await Image.fromOCI(ociLayout(join(dir, 'a'), [lower, upper]), { store });
    // A second image in the same store reusing the lower layer, and one stacking the layers the other way round.
    const b = await Image.fromOCI(ociLayout(join(dir, 'b'), [lower, layerTar([{ path: 'd/x', content: 'pwned' }])]), {
      store,
    }).catch((e: unknown) => e);
    const r = await Image.fromOCI(ociLayout(join(dir, 'r'), [upper, lower]), { store });
    expect(a.stack.layers).toHaveLength(2);
    expect(r.stack.layers).toHaveLength(2);
    expect(b instanceof Image || (b as SandboxImageError).reason === 'unsafe-entry').toBe(true);
    expect(c.snapshot()).toBe(before);
    expect(leftovers(store)).toEqual([]);
  });

  it.for([
    ['an absolute symlink', (c: ReturnType<typeof canary>) => c.secret],
    ['a relative symlink climbing out', () => '../../../../../../../../../../etc/hostname'],
    ['a hard link climbing out', () => '../../../etc/hostname'],
  ] as const)(
    'an OCI archive whose blob is %s: refused, the host file never read',
    async ([what, target], { tempDir }) => {
      const c = canary(tempDir('sandkit-canary-'));
      const dir = tempDir();
      const layout = ociLayout(join(dir, 'img'), [one()]);
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
      const manifestBlob = `blobs/sha256/${index.manifests[0].digest.slice(7)}`;
      const parts: Buffer[] = [];
      for (const name of [
        'oci-layout',
        'index.json',
        ...readdirSync(join(layout, 'blobs', 'sha256')).map((b) => `blobs/sha256/${b}`),
      ]) {
        if (name === manifestBlob) {
          parts.push(
            tarHeader({ ...file(name), type: what.startsWith('a hard') ? 'link' : 'symlink', linkname: target(c) })
          );
          continue;
        }
        const data = readFileSync(join(layout, name));
        parts.push(tarHeader(file(name, data.length)), data, tarPadding(data.length));
      }
      writeFileSync(join(dir, 'img.oci.tar'), Buffer.concat([...parts, tarEnd()]));
      const store = new LayerStore(join(dir, 'store'));
      const err = await outcome(Image.fromOCI(join(dir, 'img.oci.tar'), { store }));
      expect(['unsafe-entry', 'format']).toContain((err as SandboxImageError).reason);
      expect((err as Error).message).not.toContain('host secret');
      expect(leftovers(store)).toEqual([]);
    }
  );
});

describe('concurrent imports', () => {
  it(
    'four processes importing the same hostile image into one store: typed outcomes, one copy of each layer, the host untouched',
    { timeout: 120_000 },
    async ({ tempDir }) => {
      const c = canary(tempDir('sandkit-canary-'));
      const dir = tempDir();
      const before = c.snapshot();
      // A good layer shared by both images, and an attack layer (a directory replaced by a symlink to the host, then written through).
      const good = layerTar([
        { path: 'bin/tool', content: 'tool\n' },
        { path: 'etc/', dir: true },
      ]);
      const attack = Buffer.concat([
        tarHeader({ ...file('d'), type: 'dir', mode: 0o6777 }),
        tarHeader({ ...file('d'), type: 'symlink', linkname: c.dir }),
        tarHeader(file('d/target', 5)),
        Buffer.from('pwned'),
        tarPadding(5),
        tarEnd(),
      ]);
      const goodImage = ociLayout(join(dir, 'good'), [good]);
      const badImage = ociLayout(join(dir, 'bad'), [good, attack]);
      const storeDir = join(dir, 'store');
      const script = `
      import { Image } from ${JSON.stringify(dist.index)};
      const [store, ...paths] = process.argv.slice(1);
      const out = [];
      for (const p of paths) {
        try { out.push((await Image.fromOCI(p, { store })).stack.layers.join(',')); }
        catch (e) { out.push(e.constructor.name + ':' + e.reason); }
      }
      console.log(JSON.stringify(out));`;
      const run = promisify(execFile);
      const results = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          run(process.execPath, [
            '--input-type=module',
            '-e',
            script,
            storeDir,
            ...(i % 2 ? [badImage, goodImage] : [goodImage, badImage]),
          ]).then((r) => JSON.parse(r.stdout) as string[])
        )
      );
      const store = new LayerStore(storeDir);
      const goodLayers = sha(good);
      for (const r of results) {
        const [first, second] = r;
        for (const o of [first, second])
          expect(o === goodLayers || o === 'SandboxImageError:unsafe-entry', JSON.stringify(r)).toBe(true);
      }
      expect(c.snapshot()).toBe(before);
      expect(readdirSync(join(store.root, 'layers'))).toEqual([goodLayers.slice(7)]);
      expect(leftovers(store)).toEqual([]);
      expect(store.list('image').map((r) => r.layers)).toEqual([[goodLayers]]);
    }
  );
});

/** A VFS_CAP_REVISION_2 `security.capability` value: CAP_NET_RAW and CAP_SYS_ADMIN, permitted and effective. */
function fileCaps(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000000 | 1, 0);
  b.writeUInt32LE((1 << 13) | (1 << 21), 4);
  return b;
}

describe.each(attackers.map((a) => [a.who, a.user] as const))(
  'set-id files and file capabilities from an image layer, as %s',
  (_who, user) => {
    it('a setuid-root file and one with security.capability gain nothing inside', async ({ sandbox, tempDir }) => {
      const dir = tempDir();
      const probe = readFileSync(probePath());
      const bin = (path: string, mode: number, xattrs?: Record<string, Buffer>) => [
        tarHeader({ ...file(path, probe.length), mode, xattrs }),
        probe,
        tarPadding(probe.length),
      ];
      writeFileSync(
        join(dir, 'l.tar'),
        Buffer.concat([
          ...bin('suid', 0o4755),
          ...bin('sgid', 0o2755),
          ...bin('fcap', 0o755, { 'security.capability': fileCaps() }),
          tarEnd(),
        ])
      );
      const image = await Image.fromTar(join(dir, 'l.tar'), { store: new LayerStore(join(dir, 'store')) });
      const layer = image.layerStore!.layerDir(image.stack.layers[0]!);
      expect(
        execFileSync('stat', ['-c', '%a', join(layer, 'suid')], { encoding: 'utf8' }).trim(),
        'the attack is set up'
      ).toBe('4755');
      const sb = sandbox({ image });
      const run = (argv: string[]) => sb.run(argv, { user, limits: { wallTime: '10s' } });
      const self = capabilitiesOf((await run(['/probe', 'cat', '/proc/self/status'])).stdout);
      for (const name of ['suid', 'sgid', 'fcap']) {
        const ids = await run([`/${name}`, 'ids']);
        if (name === 'fcap' && isRoot && ids.execError) {
          // Real file capabilities that exec cannot grant: the kernel refuses to run it.
          expect(ids.execError.errnoCode).toBe('EPERM');
          continue;
        }
        expect(ids.stdout, `${name}: ids stay the caller's`).toMatch(
          new RegExp(`^uid=${user} gid=${user} euid=${user} egid=${user} `)
        );
        const caps = capabilitiesOf((await run([`/${name}`, 'cat', '/proc/self/status'])).stdout);
        expect(caps.CapEff & ~self.CapEff, name).toBe(0n);
        expect(caps.CapPrm & ~self.CapPrm, name).toBe(0n);
      }
    });
  }
);

describe('snapshots and directory images with links to host paths', () => {
  it('a program that plants symlinks to host paths, FIFOs and hard links: the snapshot and its export carry links, never host content', async ({
    sandbox,
    tempDir,
  }) => {
    const c = canary(tempDir('sandkit-canary-'));
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const before = c.snapshot();
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'root'))) });
    const plant = `ln -s ${c.secret} /s && ln -s ${c.dir} /sd && mkdir -p /x && ln -s ${c.dir} /x/up && mkfifo /fifo && ln /etc/passwd /hard && mkdir /etc/sub && rm -rf /etc/sub && ln -s ${c.dir} /etc/sub`;
    const r = await sb.run(['/bin/sh', '-c', plant]);
    expect(r.exitCode, r.stderr).toBe(0);
    const snap = await sb.snapshot({ store });
    const out = join(dir, 'snap.oci.tar');
    await snap.export(out);
    expect(readFileSync(out).includes('host secret')).toBe(false);
    const listing = execFileSync('tar', ['-xOf', out, '--wildcards', 'blobs/sha256/*'], {
      maxBuffer: 64 << 20,
    }).toString('latin1');
    expect(listing).not.toContain('host secret');
    const back = await Image.fromOCI(out, { store: new LayerStore(join(dir, 'store2')) });
    const top = back.layerStore!.layerDir(back.stack.layers.at(-1)!);
    expect(execFileSync('readlink', [join(top, 's')], { encoding: 'utf8' }).trim()).toBe(c.secret);
    expect(lstatType(join(top, 'fifo'))).toBe('fifo');
    expect(c.snapshot()).toBe(before);
  });

  it('a directory image whose files link to host paths: inside, the links resolve in the sandbox; its export holds the links only', async ({
    sandbox,
    tempDir,
  }) => {
    const c = canary(tempDir('sandkit-canary-'));
    const dir = tempDir();
    const root = busyboxRootfs(join(dir, 'root'));
    symlinkSync(c.secret, join(root, 'leak'));
    symlinkSync(c.dir, join(root, 'leakdir'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    const sb = sandbox({ image: Image.fromDirectory(root) });
    const r = await sb.run(['/bin/sh', '-c', 'cat /leak /leakdir/d/secret 2>&1; echo x > /leakdir/target; true']);
    expect(r.stdout).not.toContain('host secret');
    const snap = await sb.snapshot({ store: new LayerStore(join(dir, 'store')) });
    const out = join(dir, 'snap.oci.tar');
    await snap.export(out);
    expect(readFileSync(out).includes('host secret')).toBe(false);
    expect(readFileSync(c.file, 'utf8')).toBe('canary\n');
  });
});

function lstatType(path: string): string {
  return execFileSync('stat', ['-c', '%F', path], { encoding: 'utf8' }).trim();
}

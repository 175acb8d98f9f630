// Untrusted images: import must act only beneath the layer root whatever the archive holds
// (symlinks replacing directories or their parents, hard links out, devices, bombs), a layer
// is reused only for a verified blob, and exports keep holes as holes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { Image, LayerStore } from '../../src/index.js';
import { SandboxImageError } from '../../src/errors/sandbox-error.js';
import { HostFsOps } from '../../src/helper/host-fsops.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../../src/archive/tar-writer.js';
import { busyboxRootfs, ociLayout } from '../helpers/images.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';
import { seededRandom } from '../helpers/seeded-random.js';

/** One entry of a hand-made layer: what tarHeader takes, plus a file's bytes. */
type Entry = Partial<TarWriteEntry> & { path: string; data?: Buffer };

function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    const type = e.type ?? 'file';
    const size = e.sparse ? (e.size ?? 0) : type === 'file' ? data.length : 0;
    parts.push(
      tarHeader({ uid: 0, gid: 0, mtime: 1_700_000_000, mode: type === 'dir' ? 0o755 : 0o644, ...e, type, size })
    );
    if (type === 'file') parts.push(data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** Host files the attacks aim at: made by the test in its own temp dir, never system files. */
interface Canary {
  dir: string;
  /** A file (stand-in for /usr/bin/python3) and a private directory (stand-in for ~/.ssh). */
  file: string;
  privateDir: string;
  snapshot: () => string;
}

function canary(dir: string): Canary {
  const file = join(dir, 'target');
  const privateDir = join(dir, 'b');
  writeFileSync(file, 'canary\n', { mode: 0o644 });
  chmodSync(file, 0o644);
  mkdirSync(privateDir, { mode: 0o700 });
  chmodSync(privateDir, 0o700);
  writeFileSync(join(privateDir, 'secret'), 'secret\n', { mode: 0o600 });
  for (const p of [join(privateDir, 'secret'), file, privateDir, dir]) utimesSync(p, 1_000_000, 1_000_000);
  // Everything an import could change: the tree, each entry's type, mode, owner, links, size, mtime, content, xattrs.
  const snapshot = () => {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const name of readdirSync(join(dir, rel)).sort()) {
        const p = join(dir, rel, name);
        const st = lstatSync(p);
        const content = st.isFile() ? readFileSync(p, 'utf8') : '';
        out.push(
          `${rel}/${name} ${st.mode.toString(8)} ${st.uid}:${st.gid} n${st.nlink} ${st.size} ${st.mtimeMs} ${content}`
        );
        if (st.isDirectory()) walk(join(rel, name));
      }
    };
    const st = lstatSync(dir);
    out.push(`. ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs}`);
    walk('');
    return out.join('\n');
  };
  return { dir, file, privateDir, snapshot };
}

async function xattrsOf(dir: string, rel: string): Promise<Record<string, Buffer>> {
  const ops = HostFsOps.open(dir);
  try {
    return await ops.xattrs(rel);
  } finally {
    await ops.close();
  }
}

/** Imports a plain layer tar; returns the image, or the (typed) error. */
async function importTar(
  store: LayerStore,
  file: string,
  tar: Buffer,
  options: { maxBytes?: number; maxEntries?: number } = {}
): Promise<Image | SandboxImageError> {
  writeFileSync(file, tar);
  try {
    return await Image.fromTar(file, { store, ...options });
  } catch (err) {
    if (err instanceof SandboxImageError) return err;
    throw err;
  }
}

/** Every path under the store's layers/ and tmp/ with a character or block device that is not a whiteout. */
function devicesIn(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      // A layer directory of mode 000 (or 0600) is closed to its owner too; only root could have made a device in it anyway.
      if (!isRoot && (err as NodeJS.ErrnoException).code === 'EACCES') return;
      throw err;
    }
    for (const name of names) {
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p);
      } catch (err) {
        if (!isRoot && (err as NodeJS.ErrnoException).code === 'EACCES') return;
        throw err;
      }
      if ((st.isCharacterDevice() || st.isBlockDevice()) && st.rdev !== 0) found.push(p);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return found;
}

const leftovers = (store: LayerStore) => readdirSync(join(store.root, 'tmp'));

describe('image import through symlinks', () => {
  // Each attack: entries that give the host path a pending mode/time/owner, then replace it
  // (or a parent of it) with a symlink to the host. `host` is the canary dir, `t` the file, `b` the private dir.
  const attacks: Array<[string, (c: Canary) => Entry[]]> = [
    [
      'a directory 06777, then a symlink to a host file in its place',
      (c) => [
        { path: 'd/', type: 'dir', mode: 0o6777 },
        { path: 'd', type: 'symlink', linkname: c.file },
      ],
    ],
    [
      'a directory 0777 (rootless: ~/.ssh), then a symlink to a host directory',
      (c) => [
        { path: 'd/', type: 'dir', mode: 0o777 },
        { path: 'd', type: 'symlink', linkname: c.privateDir },
      ],
    ],
    [
      'a nested directory 06777, then its parent replaced by a symlink to the host',
      (c) => [
        { path: 'a/', type: 'dir' },
        { path: 'a/b/', type: 'dir', mode: 0o6777 },
        { path: 'a', type: 'symlink', linkname: c.dir },
      ],
    ],
    [
      'a grandparent replaced, with a relative symlink climbing out',
      (c) => [
        { path: 'x/y/b/', type: 'dir', mode: 0o6777 },
        {
          path: 'x',
          type: 'symlink',
          linkname: `../../../../../../../../..${c.dir}/../${c.dir.split('/').pop()}/b/..`,
        },
      ],
    ],
    [
      'a directory replaced by a symlink, then re-entered by a later entry',
      (c) => [
        { path: 'd/', type: 'dir', mode: 0o6777 },
        { path: 'd', type: 'symlink', linkname: c.privateDir },
        { path: 'd/new', data: Buffer.from('x') },
      ],
    ],
    [
      'a directory with an old mtime and an owner, replaced by a symlink',
      (c) => [
        { path: 'd/', type: 'dir', mode: 0o700, mtime: 1, uid: 4321, gid: 4321 },
        { path: 'd', type: 'symlink', linkname: c.file },
      ],
    ],
    [
      'a directory with xattrs, replaced by a symlink',
      (c) => [
        { path: 'd/', type: 'dir', xattrs: { 'user.attack': Buffer.from('1') } },
        { path: 'd', type: 'symlink', linkname: c.file },
        { path: 'e', type: 'symlink', linkname: c.file },
        { path: 'e', type: 'file', xattrs: { 'user.attack': Buffer.from('1') }, data: Buffer.from('') },
      ],
    ],
    [
      'an opaque marker in a directory later replaced by a symlink',
      (c) => [
        { path: 'd/', type: 'dir' },
        { path: 'd/.wh..wh..opq' },
        { path: 'd', type: 'symlink', linkname: c.privateDir },
      ],
    ],
    [
      'a whiteout below a symlink to the host',
      (c) => [{ path: 'd', type: 'symlink', linkname: c.dir }, { path: 'd/.wh.target' }],
    ],
    [
      'a fifo and a file below a symlink to the host',
      (c) => [
        { path: 'd', type: 'symlink', linkname: c.dir },
        { path: 'd/fifo', type: 'fifo' },
        { path: 'd/target', data: Buffer.from('pwned') },
      ],
    ],
    [
      'a hard link through a symlinked parent to a host file',
      (c) => [
        { path: 'a', type: 'symlink', linkname: c.dir },
        { path: 'h', type: 'link', linkname: 'a/target' },
      ],
    ],
    ['a hard link to an absolute host path', (c) => [{ path: 'h', type: 'link', linkname: c.file }]],
    [
      'a hard link climbing out with ..',
      () => [{ path: 'h', type: 'link', linkname: '../../../../../../../etc/passwd' }],
    ],
    [
      'a hard link to a symlink to a host file, then data written through it',
      (c) => [
        { path: 's', type: 'symlink', linkname: c.file },
        { path: 'h', type: 'link', linkname: 's' },
        { path: 'h/x', data: Buffer.from('x') },
      ],
    ],
    [
      'a hard link to a file later replaced by a symlink, metadata after',
      (c) => [
        { path: 'f', data: Buffer.from('f') },
        { path: 'f', type: 'symlink', linkname: c.file },
        { path: 'h', type: 'link', linkname: 'f', mode: 0o6777 },
      ],
    ],
  ];

  it.for(attacks)('%s: the host file is untouched', async ([, make], { tempDir }) => {
    const c = canary(tempDir('sandkit-canary-'));
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const before = c.snapshot();
    const result = await importTar(store, join(dir, 'layer.tar'), tarOf(make(c)));
    expect(c.snapshot()).toBe(before);
    expect(statSync(c.file).mode & 0o7777).toBe(0o644);
    expect(statSync(c.privateDir).mode & 0o7777).toBe(0o700);
    expect(await xattrsOf(c.dir, 'target')).not.toHaveProperty('user.attack');
    if (result instanceof SandboxImageError) expect(result.reason).toBe('unsafe-entry');
    // Whatever the layer kept, no inode of it is a host file.
    for (const layer of readdirSync(join(store.root, 'layers'))) {
      expect(execFileSync('find', [join(store.root, 'layers', layer), '-samefile', c.file], { encoding: 'utf8' })).toBe(
        ''
      );
    }
    expect(leftovers(store)).toEqual([]);
  });

  it("a replaced directory keeps none of the earlier entry's metadata; set-id bits of directories are dropped", async ({
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const img = await importTar(
      store,
      join(dir, 'l.tar'),
      tarOf([
        { path: 'd/', type: 'dir', mode: 0o6777, mtime: 1 },
        { path: 'd/sub/', type: 'dir', mode: 0o700 },
        { path: 'd', type: 'file', data: Buffer.from('now a file'), mode: 0o640 },
        { path: 'g/', type: 'dir', mode: 0o2775 },
        { path: 'g/', type: 'dir', mode: 0o3755 },
      ])
    );
    expect(img).toBeInstanceOf(Image);
    const layer = store.layerDir((img as Image).stack.layers[0]!);
    const d = lstatSync(join(layer, 'd'));
    expect(d.isFile()).toBe(true);
    expect(d.mode & 0o7777).toBe(0o640);
    expect(d.mtimeMs).toBe(1_700_000_000_000);
    expect(lstatSync(join(layer, 'g')).mode & 0o7777).toBe(0o1755);
  });
});

describe('device nodes in images', () => {
  it('are never created in the store (recorded as skipped); a hard link to one is skipped too', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const img = await importTar(
      store,
      join(dir, 'l.tar'),
      tarOf([
        { path: 'dev/', type: 'dir' },
        { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o666 },
        { path: 'dev/mem', type: 'char', devmajor: 1, devminor: 1, mode: 0o666 },
        { path: 'mem2', type: 'link', linkname: 'dev/mem' },
        { path: 'gone', type: 'char', devmajor: 0, devminor: 0 },
      ])
    );
    expect(img).toBeInstanceOf(Image);
    expect(devicesIn(store.root)).toEqual([]);
    const layer = store.layerDir((img as Image).stack.layers[0]!);
    expect(existsSync(join(layer, 'dev', 'sda'))).toBe(false);
    expect(existsSync(join(layer, 'mem2'))).toBe(false);
    expect(lstatSync(join(layer, 'gone')).isCharacterDevice()).toBe(true); // a whiteout stays one
    const info = JSON.parse(readFileSync(join(layer, '..', 'layer.json'), 'utf8'));
    expect(info.devices).toBe(2);
    expect(info.skipped.join('\n')).toContain('dev/sda (block device 8:0)');
  });

  it('a device node already in a layer (or a directory image) opens nothing: the root overlay is nodev', async ({
    sandbox,
    tempDir,
    task,
    skip,
  }) => {
    requireFeature({ task, skip } as never, isRoot, 'making a device node on the host needs root');
    const root = busyboxRootfs(tempDir());
    execFileSync('mknod', ['-m', '666', join(root, 'nulldev'), 'c', '1', '3']); // /dev/null's numbers: harmless if it opened
    for (const namespaces of [{ user: false }, {}]) {
      const r = await sandbox({ image: Image.fromDirectory(root), namespaces }).run([
        '/bin/sh',
        '-c',
        'echo x > /nulldev && echo opened',
      ]);
      expect(r.stdout).not.toContain('opened');
      expect(r.stderr).toMatch(/denied/i);
    }
  });
});

describe('layer reuse', () => {
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  it("an image naming another image's diff id over a blob of its own does not get that layer", async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const secret = tarOf([{ path: 'secret', data: Buffer.from("the victim's data\n") }]);
    const victim = await Image.fromOCI(ociLayout(join(dir, 'victim'), [secret]), { store });
    const diffId = victim.stack.layers[0]!;
    // The attacker's layout: its own (valid) blob, a config claiming the victim's diff id.
    const attacker = ociLayout(join(dir, 'attacker'), [tarOf([{ path: 'mine', data: Buffer.from('x') }])]);
    const index = JSON.parse(readFileSync(join(attacker, 'index.json'), 'utf8'));
    const manifestFile = join(attacker, 'blobs', 'sha256', index.manifests[0].digest.slice(7));
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } })
    );
    writeFileSync(join(attacker, 'blobs', 'sha256', sha(config).slice(7)), config);
    manifest.config = { ...manifest.config, digest: sha(config), size: config.length };
    const m = Buffer.from(JSON.stringify(manifest));
    writeFileSync(join(attacker, 'blobs', 'sha256', sha(m).slice(7)), m);
    index.manifests[0].digest = sha(m);
    writeFileSync(join(attacker, 'index.json'), JSON.stringify(index));
    const err = await Image.fromOCI(attacker, { store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxImageError);
    expect((err as SandboxImageError).reason).toBe('digest-mismatch');
    // Also when the attacker's blob is filed under the victim's blob digest.
    const victimBlob = store.verifiedBlobs(diffId)[0]!;
    writeFileSync(join(attacker, 'blobs', 'sha256', victimBlob.slice(7)), "not the victim's blob");
    manifest.layers[0].digest = victimBlob;
    const m2 = Buffer.from(JSON.stringify(manifest));
    writeFileSync(join(attacker, 'blobs', 'sha256', sha(m2).slice(7)), m2);
    index.manifests[0].digest = sha(m2);
    writeFileSync(join(attacker, 'index.json'), JSON.stringify(index));
    const err2 = await Image.fromOCI(attacker, { store }).catch((e: unknown) => e);
    expect((err2 as SandboxImageError).reason).toBe('digest-mismatch');
    expect(leftovers(store)).toEqual([]);
  });

  it('the same content in another blob (gzip) is verified once, then reused', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const layer = tarOf([{ path: 'f', data: Buffer.from('same\n') }]);
    const a = await Image.fromOCI(ociLayout(join(dir, 'a'), [layer]), { store });
    const b = await Image.fromOCI(ociLayout(join(dir, 'b'), [layer], {}, { gzip: true }), { store });
    expect(b.stack.layers).toEqual(a.stack.layers);
    expect(store.verifiedBlobs(a.stack.layers[0]!)).toEqual([sha(layer), sha(gzipSync(layer))]);
    const progress: boolean[] = [];
    await Image.fromOCI(join(dir, 'b'), { store, onProgress: (p) => progress.push(p.cached) });
    expect(progress).toEqual([true]);
  });
});

/** A gzip of a tar holding one file of `size` zero bytes, made of concatenated gzip members (2 MB → 2.1 GB). */
function gzipBomb(size: number): Buffer {
  const mib = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const parts = [gzipSync(tarHeader({ path: 'zeros', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size }))];
  for (let n = 0; n < size; n += 1 << 20) parts.push(mib);
  parts.push(gzipSync(Buffer.concat([tarPadding(size), tarEnd()])));
  return Buffer.concat(parts);
}

describe('bombs', () => {
  it(
    'a gzip bomb (2 MB → 2.1 GB) stops at the default maxBytes with too-large, leaving nothing in the store',
    { timeout: 600_000 },
    async ({ tempDir }) => {
      const dir = tempDir();
      const store = new LayerStore(join(dir, 'store'));
      const bomb = gzipBomb(2100 * 2 ** 20);
      expect(bomb.length).toBeLessThan(3 << 20);
      const started = Date.now();
      const err = await importTar(store, join(dir, 'bomb.tar.gz'), bomb);
      expect(err).toBeInstanceOf(SandboxImageError);
      expect((err as SandboxImageError).reason, (err as Error).message).toBe('too-large');
      expect(Date.now() - started).toBeLessThan(process.env.SANDKIT_IN_VM ? 300_000 : 30_000);
      expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
      expect(readdirSync(join(store.root, 'images'))).toEqual([]);
      expect(leftovers(store)).toEqual([]);
    }
  );

  it('maxBytes and maxEntries are enforced across layers and archives', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const many = tarOf(Array.from({ length: 500 }, (_, i) => ({ path: `f${i}`, data: Buffer.from('x') })));
    expect(((await importTar(store, join(dir, 'm.tar'), many, { maxEntries: 100 })) as SandboxImageError).reason).toBe(
      'too-large'
    );
    const big = tarOf([{ path: 'big', data: Buffer.alloc(1 << 20, 1) }]);
    expect(
      ((await importTar(store, join(dir, 'b.tar'), big, { maxBytes: 512 << 10 })) as SandboxImageError).reason
    ).toBe('too-large');
    // Two layers of 600 KiB each: each fits, both do not.
    const layout = ociLayout(join(dir, 'two'), [
      tarOf([{ path: 'a', data: Buffer.alloc(600 << 10, 1) }]),
      tarOf([{ path: 'b', data: Buffer.alloc(600 << 10, 2) }]),
    ]);
    const err = await Image.fromOCI(layout, { store, maxBytes: 1 << 20 }).catch((e: unknown) => e);
    expect((err as SandboxImageError).reason).toBe('too-large');
    // An OCI archive whose own tar is the bomb.
    execFileSync('tar', ['-C', layout, '-czf', join(dir, 'two.oci.tar.gz'), '.']);
    const err2 = await Image.fromOCI(join(dir, 'two.oci.tar.gz'), { store, maxBytes: 256 << 10 }).catch(
      (e: unknown) => e
    );
    expect((err2 as SandboxImageError).reason).toBe('too-large');
    expect(await Image.fromTar(join(dir, 'b.tar'), { store, maxBytes: 4 << 20 })).toBeInstanceOf(Image);
    expect(leftovers(store)).toEqual([]);
  });
});

describe('sparse files', () => {
  it('a sparse 3 GiB file in a 16M quota exports as a small archive, imports back sparse and exact', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'root'))), limits: { disk: '16M' } });
    const r = await sb.run([
      '/bin/sh',
      '-c',
      '/bin/busybox truncate -s 3G /big && echo middle | dd of=/big bs=1 seek=1500000000 conv=notrunc 2>/dev/null && echo end | dd of=/big bs=1 seek=3221225468 conv=notrunc 2>/dev/null && ls -l /big',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const snap = await sb.snapshot({ store });
    const out = join(dir, 'snap.oci.tar');
    const started = Date.now();
    const result = await snap.export(out);
    expect(statSync(out).size).toBeLessThan(16 << 20);
    expect(Date.now() - started).toBeLessThan(20_000);
    // A cap smaller than the content is a typed error, and no archive.
    const err = await snap.export(join(dir, 'capped.oci.tar'), { maxBytes: 64 << 10 }).catch((e: unknown) => e);
    expect((err as SandboxImageError).reason).toBe('too-large');
    expect(existsSync(join(dir, 'capped.oci.tar'))).toBe(false);
    // Back in: the file is whole (same size, the data where it was) and still sparse.
    const back = await Image.fromOCI(out, { store: new LayerStore(join(dir, 'store2')) });
    expect(back.stack.layers).toEqual(result.layers);
    const layer = back.layerStore!.layerDir(back.stack.layers[1]!);
    const st = statSync(join(layer, 'big'));
    expect(st.size).toBe(3 * 1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    const at = (offset: number, n: number) =>
      execFileSync('dd', [`if=${join(layer, 'big')}`, 'bs=1', `skip=${offset}`, `count=${n}`], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString();
    expect(at(1_500_000_000, 7)).toBe('middle\n');
    expect(at(3_221_225_468, 4)).toBe('end\n');
  });

  it("GNU tar's own PAX 1.0 sparse archives import", async ({ tempDir }) => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    const file = join(dir, 'src', 'holes');
    execFileSync('sh', [
      '-c',
      `truncate -s 100M ${file} && echo a | dd of=${file} bs=1 seek=5000000 conv=notrunc 2>/dev/null && echo z | dd of=${file} bs=1 seek=104857598 conv=notrunc 2>/dev/null`,
    ]);
    execFileSync('tar', [
      '--format=posix',
      '--sparse',
      '--sparse-version=1.0',
      '-C',
      join(dir, 'src'),
      '-cf',
      join(dir, 'sparse.tar'),
      'holes',
    ]);
    expect(statSync(join(dir, 'sparse.tar')).size).toBeLessThan(1 << 20);
    const img = await Image.fromTar(join(dir, 'sparse.tar'), { store: new LayerStore(join(dir, 'store')) });
    const got = join(img.layerStore!.layerDir(img.stack.layers[0]!), 'holes');
    expect(statSync(got).size).toBe(100 << 20);
    expect(createHash('sha256').update(readFileSync(got)).digest('hex')).toBe(
      createHash('sha256').update(readFileSync(file)).digest('hex')
    );
  });
});

/** A hostile layer: permutations of dirs, files, symlinks, hard links, fifos, devices and whiteouts over overlapping names. */
function hostileLayer(seed: number, c: Canary): Entry[] {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const long = 'L'.repeat(200);
  const tooLong = 'N'.repeat(300); // longer than a file name may be
  const deep = `${long}/`.repeat(25); // longer than a path may be
  // Names and targets inside the layer, and (rarer, as each refuses the whole layer) ones that climb out.
  const names = [
    'a',
    'b',
    'a/b',
    'a/b/c',
    'b/a',
    'c',
    './a',
    'a//b/',
    '/a/b',
    '/abs',
    long,
    `a/${long}`,
    `${long}/${long}`,
    '.wh.a',
    'a/.wh.b',
    '.wh.b',
    'a/.wh..wh..opq',
    '.wh..wh..opq',
    'b/.wh..wh..opq',
    'target',
    'b/secret',
    'a/b/target',
  ];
  const escaping = ['..', '../x', 'a/../../x', 'a/..', '.wh.', '.wh...', tooLong, `a/${tooLong}`, `${deep}x`];
  const targets = [
    c.file,
    c.privateDir,
    c.dir,
    `${c.dir}/b/secret`,
    '../../../../../..',
    `../../../../../../..${c.dir}`,
    '/',
    '.',
    'a',
    'a/b',
    'b',
    'target',
    'b/secret',
    '/a/b',
    long,
    'a/b/c',
    'c',
  ];
  const linkTargets = ['a', 'a/b', 'b', 'c', 'target', 'b/secret', '/a/b', 'a/b/c', long, c.file, `${c.dir}/b/secret`];
  const modes = [0o6777, 0o4755, 0o777, 0o700, 0o000, 0o1777, 0o2775, 0o644];
  const entries: Entry[] = [];
  const count = 3 + Math.floor(r() * (seed % 2 ? 36 : 8)); // short layers mostly import, long ones mostly clash
  for (let i = 0; i < count; i++) {
    const path = r() < 0.02 ? pick(escaping) : pick(names);
    const common = {
      path,
      mode: pick(modes),
      mtime: pick([0, 1, 1_700_000_000]),
      uid: pick([0, 1000, 65534]),
      gid: pick([0, 1000]),
      ...(r() < 0.2
        ? {
            xattrs: {
              [pick(['user.x', 'trusted.overlay.opaque', 'user.overlay.redirect', 'security.capability'])]:
                Buffer.from('y'),
            },
          }
        : {}),
    };
    const kind = pick([
      'dir',
      'dir',
      'file',
      'file',
      'symlink',
      'symlink',
      'symlink',
      'link',
      'link',
      'fifo',
      'char',
      'block',
      'whiteout',
      'sparse',
    ] as const);
    if (kind === 'sparse') {
      // A sparse file whose map may overlap, or run past its size.
      const sparse = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, k) => ({
        offset: k * 8192 + Math.floor(r() * 6000),
        length: 1 + Math.floor(r() * 3000),
      }));
      const data = Buffer.alloc(
        sparse.reduce((n, x) => n + x.length, 0),
        0x61
      );
      entries.push({ ...common, type: 'file', sparse, size: r() < 0.8 ? 40_000 : 100, data });
    } else if (kind === 'dir') entries.push({ ...common, path: `${path}/`, type: 'dir' });
    else if (kind === 'file') entries.push({ ...common, data: Buffer.from(`pwned ${i}\n`) });
    else if (kind === 'symlink') entries.push({ ...common, type: 'symlink', linkname: pick(targets) });
    else if (kind === 'link')
      entries.push({
        ...common,
        type: 'link',
        linkname: r() < 0.05 ? pick(['..', '../../x', 'a/../..']) : pick(linkTargets),
      });
    else if (kind === 'fifo') entries.push({ ...common, type: 'fifo' });
    else if (kind === 'whiteout') entries.push({ ...common, type: 'char', devmajor: 0, devminor: 0 });
    else entries.push({ ...common, type: kind, devmajor: pick([1, 8]), devminor: pick([1, 3]) });
  }
  return entries;
}

describe('fuzzing import with hostile archives', () => {
  it(
    '300 seeded hostile layers: only typed errors, nothing outside the store changes, no leftovers',
    { timeout: 120_000 },
    async ({ tempDir }) => {
      const c = canary(tempDir('sandkit-canary-'));
      const dir = tempDir();
      const store = new LayerStore(join(dir, 'store'));
      const before = c.snapshot();
      const outcomes = { imported: 0, refused: 0 };
      const base = Number(process.env.SANDKIT_FUZZ_SEED ?? 1);
      for (let seed = base; seed < base + 300; seed++) {
        let tar = tarOf(hostileLayer(seed, c));
        // Every fifth archive is cut short or has a byte changed.
        if (seed % 5 === 0)
          tar =
            seed % 10 === 0
              ? tar.subarray(0, Math.floor(seededRandom(seed)() * tar.length))
              : Buffer.from(tar.map((b, i) => (i === Math.floor(seededRandom(seed)() * tar.length) ? b ^ 0x5a : b)));
        const result = await importTar(store, join(dir, 'layer.tar'), tar);
        if (result instanceof SandboxImageError) {
          expect(['unsafe-entry', 'format', 'unsupported'], `seed ${seed}: ${result.message}`).toContain(result.reason);
          outcomes.refused++;
        } else outcomes.imported++;
        if (process.env.SANDKIT_FUZZ_DEBUG)
          console.log(seed, result instanceof SandboxImageError ? result.message : 'imported');
        expect(c.snapshot(), `seed ${seed}`).toBe(before);
        expect(leftovers(store), `seed ${seed}`).toEqual([]);
      }
      expect(await xattrsOf(c.dir, 'target')).toEqual({});
      expect(devicesIn(store.root)).toEqual([]);
      // (A hard link to a canary file anywhere would show in its link count, which the snapshot holds.)
      // Both outcomes occur, so the generator reaches the unpacker's every branch.
      expect(outcomes.imported).toBeGreaterThan(25);
      expect(outcomes.refused).toBeGreaterThan(30);
      for (const rec of store.list()) store.remove(rec.id);
      await store.gc();
      expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
    }
  );
});

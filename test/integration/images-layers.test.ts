import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { Image, LayerStore, SandboxImageError } from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';
import { busyboxRootfs, layerBlobPath, layerTar, ociLayout, tarDir } from '../helpers/images.js';

const isRoot = process.getuid?.() === 0;

/** The busybox root as one layer tar. */
function baseLayer(dir: string): Buffer {
  busyboxRootfs(join(dir, 'rootfs'));
  execFileSync('tar', ['-C', join(dir, 'rootfs'), '-cf', join(dir, 'base.tar'), '.']);
  return readFileSync(join(dir, 'base.tar'));
}

const L1 = layerTar([
  { path: 'data/', dir: true },
  { path: 'data/a', content: 'a1' },
  { path: 'data/b', content: 'b1' },
  { path: 'data/sub/', dir: true },
  { path: 'data/sub/c', content: 'c1' },
  { path: 'opq/', dir: true },
  { path: 'opq/old1', content: 'o' },
  { path: 'opq/olddir/', dir: true },
  { path: 'opq/olddir/f', content: 'f' },
  { path: 'keep/', dir: true },
  { path: 'keep/x', content: 'x' },
]);
const L2 = layerTar([
  { path: 'data/.wh.a', content: '' },
  { path: 'data/sub/.wh.c', content: '' },
  { path: 'data/d', content: 'd2' },
  { path: 'opq/', dir: true },
  { path: 'opq/.wh..wh..opq', content: '' },
  { path: 'opq/new2', content: 'n2' },
]);
const L3 = layerTar([
  { path: 'data/.wh.d', content: '' },
  { path: 'data/a', content: 'a3' },
  { path: 'opq/new3', content: 'n3' },
  { path: 'keep/', dir: true },
  { path: 'keep/.wh..wh..opq', content: '' },
  { path: 'keep/y', content: 'y3' },
]);

const LIST =
  'cd / && for d in data data/sub opq keep; do echo "$d: $(ls -A $d | sort | tr "\\n" " ")"; done; cat data/a';
const EXPECTED = 'data: a b sub \ndata/sub: \nopq: new2 new3 \nkeep: y \na3';

describe('OCI layers become overlay layers', () => {
  it('whiteouts and opaque directories across three layers', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    ociLayout(join(dir, 'oci'), [baseLayer(dir), L1, L2, L3], { Env: ['PATH=/bin'] }, { gzip: true });
    const img = await Image.fromOCI(join(dir, 'oci'), { store });
    const r = await sandbox({ image: img }).run(['/bin/sh', '-c', LIST]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(EXPECTED);
    if (isRoot) {
      // Without a user namespace overlayfs reads trusted.overlay.opaque, which root also sets.
      const r2 = await sandbox({ image: img, namespaces: { user: false } }).run(['/bin/sh', '-c', LIST]);
      expect(r2.stdout).toBe(EXPECTED);
    }
  });

  it('OCI archives, docker-save archives and plain rootfs tarballs import and run', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const base = baseLayer(dir);
    ociLayout(
      join(dir, 'oci'),
      [base, L1],
      { Env: ['GREETING=hi'], WorkingDir: '/data', Cmd: ['/bin/cat', 'b'] },
      { name: 'demo:1' }
    );
    const archive = tarDir(join(dir, 'oci'), join(dir, 'demo.oci.tar'));
    const img = await Image.fromOCI(archive, { store });
    expect(img.config).toMatchObject({ env: { GREETING: 'hi' }, workingDir: '/data', cmd: ['/bin/cat', 'b'] });
    const sb = sandbox({ image: img });
    expect((await sb.run(img.defaultCommand())).stdout).toBe('b1');
    expect((await sb.run(['/bin/sh', '-c', 'echo $GREETING $(pwd)'])).stdout).toBe('hi /data\n');
    expect((await sb.run(['/bin/sh', '-c', 'echo $GREETING'], { env: { GREETING: 'mine' } })).stdout).toBe('mine\n');
    expect(Image.fromStore('demo:1', { store }).id).toBe(img.id);

    execFileSync('gzip', ['-k', join(dir, 'base.tar')]);
    const plain = await Image.fromTar(join(dir, 'base.tar.gz'), { store, name: 'plain' });
    expect((await sandbox({ image: plain }).run(['/bin/sh', '-c', 'echo ok'])).stdout).toBe('ok\n');
    // the same content as the OCI image's bottom layer: stored once
    expect(plain.id).not.toBe(img.id);
    expect(store.list('image').length).toBe(2);
  });

  it('importing the same image twice reads nothing the second time', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    ociLayout(join(dir, 'oci'), [L1, L2], {});
    const first: number[] = [];
    await Image.fromOCI(join(dir, 'oci'), { store, onProgress: (p) => p.done && first.push(p.cached ? 1 : 0) });
    const second: number[] = [];
    await Image.fromOCI(join(dir, 'oci'), { store, onProgress: (p) => p.done && second.push(p.cached ? 1 : 0) });
    expect(first).toEqual([0, 0]);
    expect(second).toEqual([1, 1]);
  });

  it('concurrent imports of one image share its layers', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    ociLayout(join(dir, 'oci'), [L1, L2, L3], {});
    const imgs = await Promise.all(
      [0, 1, 2, 3].map(() => Image.fromOCI(join(dir, 'oci'), { store: new LayerStore(store.root) }))
    );
    expect(new Set(imgs.map((i) => i.id)).size).toBe(1);
    expect(
      execFileSync('ls', [join(store.root, 'layers')], { encoding: 'utf8' })
        .trim()
        .split('\n')
    ).toHaveLength(3);
  });

  it('a tampered blob is refused with a digest error and leaves nothing behind', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    ociLayout(join(dir, 'oci'), [L1], {});
    const blob = layerBlobPath(join(dir, 'oci'));
    const data = readFileSync(blob);
    data[600] ^= 1;
    writeFileSync(blob, data);
    const err = await Image.fromOCI(join(dir, 'oci'), { store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxImageError);
    expect(err).toMatchObject({ code: 'ERR_SANDBOX_IMAGE', reason: 'digest-mismatch' });
    expect(
      execFileSync('ls', ['-A', join(store.root, 'layers'), join(store.root, 'tmp')], { encoding: 'utf8' })
    ).not.toMatch(/[0-9a-f]{64}|layer-/);
  });

  it('a layer entry with .. is refused', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    ociLayout(join(dir, 'oci'), [layerTar([{ path: '../../escape', content: 'x' }])], {});
    await expect(Image.fromOCI(join(dir, 'oci'), { store })).rejects.toMatchObject({ reason: 'unsafe-entry' });
    expect(existsSync(join(dir, 'escape'))).toBe(false);
  });

  it('gc removes layers no image references', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    ociLayout(join(dir, 'a'), [L1, L2], {}, { name: 'a' });
    ociLayout(join(dir, 'b'), [L1, L3], {}, { name: 'b' });
    await Image.fromOCI(join(dir, 'a'), { store });
    await Image.fromOCI(join(dir, 'b'), { store });
    expect(await Image.gc({ store })).toEqual([]);
    expect(Image.remove('a', { store })).toBe(true);
    expect(await Image.gc({ store })).toHaveLength(1); // L2 only: L1 is still b's
    Image.remove('b', { store });
    expect(await Image.gc({ store })).toHaveLength(2);
  });
});

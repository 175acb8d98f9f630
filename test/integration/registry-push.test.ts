// snapshot.push / image.push to a real registry, then pull into another store (another state
// dir): the same files, modes, owners (as root), xattrs, whiteouts and opaque directories.
// Also: blobs the registry has are skipped (HEAD), a push to another repository of the same
// registry mounts them, and large blobs go up in PATCH chunks.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { Image, LayerStore } from '../../src/index.js';
import { HostFsOps } from '../../src/helper/host-fsops.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { BUSYBOX, layerTar, ociLayout } from '../helpers/images.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { it } from '../helpers/sandboxes.js';

const isRoot = process.getuid?.() === 0;

/** Every entry of a layer directory: type, mode, owner, size, link target, xattrs. */
async function describeTree(root: string): Promise<Record<string, string>> {
  const ops = HostFsOps.open(root);
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const e of (await ops.call({ op: 'list', path: rel || '/' })).entries) {
      const path = rel ? `${rel}/${e.name}` : String(e.name);
      const xs = Object.entries(await ops.xattrs(path))
        .filter(([k]) => !k.includes('overlay'))
        .map(([k, v]) => `${k}=${v.toString()}`)
        .sort()
        .join(',');
      out[path] =
        `${e.type} ${(e.mode as number).toString(8)} ${e.uid}:${e.gid} ${e.type === 'file' ? e.size : ''} ${e.target ?? ''} ${xs}`;
      if (e.type === 'dir') await walk(path);
    }
  };
  await walk('');
  await ops.close();
  return out;
}

let work: string;
let reg: RunningRegistry;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sandkit-registry-push-'));
  reg = await startRegistry(join(work, 'registry'));
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  if (work) removeTreeSync(work);
});

describe('push → pull round trip', () => {
  it('a pushed snapshot pulled into another store runs with the same files, modes, owners, xattrs and whiteouts', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'state1', 'store'));
    const base = layerTar([
      { path: 'bin/', dir: true },
      { path: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 },
      { path: 'bin/sh', symlink: 'busybox' },
      { path: 'data/', dir: true },
      { path: 'data/x', content: 'xattr', xattrs: { 'user.test': Buffer.from('abc') } },
      { path: 'data/gone', content: 'g' },
      { path: 'opq/', dir: true },
      { path: 'opq/old', content: 'o' },
    ]);
    ociLayout(join(dir, 'oci'), [base], { Env: ['A=1'], WorkingDir: '/data' });
    const img = await Image.fromOCI(join(dir, 'oci'), { store });
    const sb = sandbox({
      image: img,
      security: { capabilities: ['CAP_CHOWN', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_DAC_OVERRIDE'] },
    });
    const built = await sb.run(
      [
        '/bin/sh',
        '-c',
        [
          'cd /data && echo hi > f && ' +
            (isRoot ? 'busybox chown 1234:5678 /data/f && ' : '') +
            'busybox chmod 4755 f && busybox ln -s f l && busybox ln f hard && busybox rm gone',
          'busybox mkdir -p /data/sub && busybox chmod 700 /data/sub',
          'busybox rm -rf /opq && busybox mkdir /opq && echo new > /opq/new',
        ].join(' && '),
      ],
      { env: { PATH: '/bin' } }
    );
    expect(built).toMatchObject({ exitCode: 0, stderr: '' });
    const snap = await sb.snapshot({ store });
    const pushed = await snap.push(`${reg.host}/judge/snap:1`);
    expect(pushed.layers.map((l) => l.sent)).toEqual(['uploaded', 'uploaded']);

    const store2 = new LayerStore(join(dir, 'state2', 'store'));
    const again = await Image.pull(`${reg.host}/judge/snap:1`, { store: store2 });
    expect(again.config).toMatchObject({ env: { A: '1' }, workingDir: '/data' });
    const before = snap.layerIds.map((id) => store.layerDir(id));
    const after = again.stack.layers.map((id) => store2.layerDir(id));
    expect(after).toHaveLength(2);
    for (const [a, b] of before.map((d, i) => [d, after[i]!] as const))
      expect(await describeTree(b)).toEqual(await describeTree(a));
    const r = await sandbox({ image: again }).run(
      ['/bin/sh', '-c', 'busybox cat f l hard; busybox ls /opq; busybox ls /data; busybox stat -c "%a %u:%g" f'],
      { env: { PATH: '/bin' } }
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`hi\nhi\nhi\nnew\nf\nhard\nl\nsub\nx\n4755 ${isRoot ? '1234:5678' : '0:0'}\n`);

    // Pushed again: the registry has every blob. To another repository: mounted, not sent.
    const second = await snap.push(`${reg.host}/judge/snap:2`);
    expect(second.layers.map((l) => l.sent)).toEqual(['exists', 'exists']);
    expect(second.digest).toBe(pushed.digest);
    const other = await Image.fromStore(snap.id, { store }).push(`${reg.host}/other/snap:1`);
    expect(other.layers.map((l) => l.sent)).toEqual(['mounted', 'mounted']);
    expect(other.digest).toBe(pushed.digest);
  });

  it('uploads large blobs in chunks and pulls them back intact', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) % 251;
    ociLayout(join(dir, 'oci'), [layerTar([{ path: 'blob.bin', content: payload }])]);
    const img = await Image.fromOCI(join(dir, 'oci'), { store });
    const phases: string[] = [];
    const res = await img.push(`${reg.host}/chunked/img:1`, {
      chunkSize: 64 << 10,
      compression: 'none',
      onProgress: (p) => phases.push(p.phase),
    });
    expect(res.layers[0]!.size).toBeGreaterThan(64 << 10);
    expect(phases).toContain('upload');
    const back = await Image.pull(`${reg.host}/chunked/img:1`, { store: new LayerStore(join(dir, 'store2')) });
    const file = join(back.layerStore!.layerDir(back.stack.layers[0]!), 'blob.bin');
    expect(readFileSync(file).equals(payload)).toBe(true);
  });

  it('refuses to push a snapshot of the host image', async ({ sandbox }) => {
    const sb = sandbox();
    await sb.run(['/bin/true']);
    const snap = await sb.snapshot();
    await expect(snap.push(`${reg.host}/host/snap:1`)).rejects.toMatchObject({
      code: 'ERR_SANDBOX_IMAGE',
      reason: 'unsupported',
    });
  });
});

import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { Image, LayerStore } from '../../src/index.js';
import { HostFsOps } from '../../src/helper/host-fsops.js';
import { it } from '../helpers/sandboxes.js';
import { readFileSync } from 'node:fs';
import { BUSYBOX, layerTar, ociLayout } from '../helpers/images.js';

const isRoot = process.getuid?.() === 0;

/** Every entry of a layer directory: type, mode, owner, size, content hash, link target, xattrs. */
async function describeTree(root: string): Promise<Record<string, string>> {
  const ops = HostFsOps.open(root);
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    const list = (await ops.call({ op: 'list', path: rel || '/' })).entries;
    for (const e of list) {
      const path = rel ? `${rel}/${e.name}` : String(e.name);
      const x = await ops.xattrs(path);
      const xs = Object.entries(x)
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

describe('export → import round trip', () => {
  it('keeps files, modes, owners, xattrs, symlinks, whiteouts and opaque dirs', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
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
    ociLayout(join(dir, 'oci'), [layerTar([]), base], { Env: ['A=1'], WorkingDir: '/data' });
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
            (isRoot ? '/bb chown 1234:5678 /data/f && ' : '') +
            '/bb chmod 4755 f && /bb ln -s f l && /bb ln f hard && /bb rm gone',
          '/bb mkdir -p /data/sub && /bb chmod 700 /data/sub',
          '/bb rm -rf /opq && /bb mkdir /opq && echo new > /opq/new',
        ]
          .join(' && ')
          .replaceAll('/bb ', 'busybox '),
      ],
      { env: { PATH: '/bin' } }
    );
    expect(built).toMatchObject({ exitCode: 0, stderr: '' });
    const snap = await sb.snapshot({ store });
    const out = join(dir, 'snap.oci.tar');
    await snap.export(out);
    const store2 = new LayerStore(join(dir, 'store2'));
    const again = await Image.fromOCI(out, { store: store2 });
    expect(again.config).toMatchObject({ env: { A: '1' }, workingDir: '/data' });
    const ids1 = snap.layerIds.slice(1);
    const ids2 = again.stack.layers.slice(1);
    for (const [a, b] of ids1.map((id, i) => [store.layerDir(id), store2.layerDir(ids2[i]!)] as const)) {
      expect(await describeTree(b)).toEqual(await describeTree(a));
    }
    const r = await sandbox({ image: again }).run(
      ['/bin/sh', '-c', 'busybox cat f l hard; busybox ls /opq; busybox ls /data; busybox stat -c "%a %u:%g" f'],
      { env: { PATH: '/bin' } }
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`hi\nhi\nhi\nnew\nf\nhard\nl\nsub\nx\n4755 ${isRoot ? '1234:5678' : '0:0'}\n`);
  });
});

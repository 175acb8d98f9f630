import { readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { Image, LayerStore, type Sandbox } from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';
import { busyboxRootfs } from '../helpers/images.js';
import { mountsMentioning, sandboxDirsUnder, stateRoot } from '../helpers/host.js';

const MiB = 2 ** 20;

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function dirOf(sb: Sandbox): string | undefined {
  return sandboxDirsUnder(stateRoot()).find((d) => d.endsWith(`/${sb.id}`));
}

describe('limits.disk', () => {
  it('writes past the quota fail with ENOSPC, the host disk is untouched, the sandbox stays usable', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())), limits: { disk: '16M' } });
    await sb.start();
    const before = freeBytes(stateRoot());
    const big = await sb.run(['/bin/dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=100']);
    const after = freeBytes(stateRoot());
    expect(big.exitCode).not.toBe(0);
    expect(big.stderr).toContain('No space left on device');
    expect(before - after).toBeLessThan(48 * MiB); // 100 MiB without the quota
    const size = Number((await sb.run(['/bin/stat', '-c', '%s', '/big'])).stdout);
    expect(size).toBeGreaterThan(8 * MiB);
    expect(size).toBeLessThanOrEqual(16 * MiB);
    // the host's copy of the sandbox directory holds nothing: the layer is in the sandbox's tmpfs
    const dir = dirOf(sb)!;
    expect(readdirSync(join(dir, 'rw'))).toEqual([]);

    const small = await sb.run(['/bin/sh', '-c', 'rm /big && echo small > /small && cat /small']);
    expect(small).toMatchObject({ exitCode: 0, stdout: 'small\n' });
    await sb.files.write('/via-files', 'ok');
    expect((await sb.run(['/bin/cat', '/via-files'])).stdout).toBe('ok');

    await sb.destroy();
    expect(dirOf(sb)).toBeUndefined();
    expect(mountsMentioning(sb.id)).toEqual([]);
  });

  it('counts every write of the sandbox together, across runs and files', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())), limits: { disk: '8M' } });
    expect((await sb.run(['/bin/dd', 'if=/dev/zero', 'of=/a', 'bs=1M', 'count=5'])).exitCode).toBe(0);
    const second = await sb.run(['/bin/dd', 'if=/dev/zero', 'of=/b', 'bs=1M', 'count=5']);
    expect(second.exitCode).not.toBe(0);
    expect(second.stderr).toContain('No space left on device');
  });

  it('snapshots keep working: the writable layer is copied from the sandbox tmpfs', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const build = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'rootfs'))), limits: { disk: '16M' } });
    await build.run(['/bin/sh', '-c', 'mkdir -p /src && echo v1 > /src/a && rm /etc/group']);
    const snap = await build.snapshot({ store });
    const from = sandbox({ image: snap, limits: { disk: '16M' } });
    expect((await from.run(['/bin/sh', '-c', 'cat /src/a; test -e /etc/group || echo no-group'])).stdout).toBe(
      'v1\nno-group\n'
    );
  });
});

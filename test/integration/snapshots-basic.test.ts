import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect } from 'vitest';
import { Image, LayerStore, Sandbox, Snapshot } from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';
import { busyboxRootfs } from '../helpers/images.js';

describe('snapshots', () => {
  it('freezes the writable layer; sandboxes from it start from that state and stack', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const base = Image.fromDirectory(busyboxRootfs(join(dir, 'rootfs')));
    const build = sandbox({ image: base });
    const events: Array<{ snapshot: Snapshot; durationMs: number }> = [];
    build.on('snapshot', (e) => events.push(e));
    await build.run(['/bin/sh', '-c', 'mkdir -p /src && echo v1 > /src/a && echo gone > /bin/extra && rm /etc/group']);
    const snap = await build.snapshot({ store, name: 'first' });
    expect(snap).toBeInstanceOf(Snapshot);
    expect(events).toHaveLength(1);
    expect(events[0]!.snapshot).toBe(snap);
    expect(events[0]!.durationMs).toBeGreaterThan(0);
    // later writes to the build sandbox do not change the snapshot
    await build.run(['/bin/sh', '-c', 'echo v2 > /src/a']);
    const a = sandbox({ image: snap });
    expect((await a.run(['/bin/sh', '-c', 'cat /src/a; test -e /etc/group || echo no-group'])).stdout).toBe(
      'v1\nno-group\n'
    );
    await a.run(['/bin/sh', '-c', 'echo v3 > /src/b && rm /src/a']);
    const snap2 = await a.snapshot({ store });
    expect(snap2.layerIds).toHaveLength(2);
    const b = sandbox({ image: snap2 });
    expect((await b.run(['/bin/sh', '-c', 'ls /src; cat /src/b'])).stdout).toBe('b\nv3\n');
    // found again by name, with its base directory
    expect((await sandbox({ image: Image.fromStore('first', { store }) }).run(['/bin/cat', '/src/a'])).stdout).toBe(
      'v1\n'
    );
  });

  it('100 sandboxes from one snapshot see their own writes only', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const build = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'rootfs'))) });
    await build.files.write('/data/shared', 'start\n');
    const snap = await build.snapshot({ store });
    const boxes = Array.from({ length: 100 }, () => sandbox({ image: snap }));
    const results = await Promise.all(
      boxes.map((sb, i) =>
        sb.run([
          '/bin/sh',
          '-c',
          `echo ${i} >> /data/shared && echo mine-${i} > /data/own && cat /data/shared; ls /data`,
        ])
      )
    );
    results.forEach((r, i) => expect(r.stdout).toBe(`start\n${i}\nown\nshared\n`));
    expect(await boxes[7]!.files.readText('/data/own')).toBe('mine-7\n');
  });

  it('a snapshot of a running sandbox pauses it when there is a freezer, else refuses', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'rootfs'))) });
    const proc = sb.spawn([
      '/bin/sh',
      '-c',
      'i=0; while :; do i=$((i+1)); echo $i > /c.new && mv /c.new /counter; done',
    ]);
    await new Promise((r) => setTimeout(r, 200));
    const taken = await sb.snapshot({ store }).catch((e: unknown) => e);
    proc.kill('SIGKILL');
    await proc.then(
      () => {},
      () => {}
    );
    if (taken instanceof Snapshot) {
      const n = Number((await sandbox({ image: taken }).run(['/bin/cat', '/counter'])).stdout);
      expect(n).toBeGreaterThan(0);
    } else {
      expect(taken).toMatchObject({ code: 'ERR_SANDBOX_UNSUPPORTED' });
    }
  });

  it('costs the size of the changes, not of the image (loosely: 1 MB vs 300 MB image)', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const time = async (mb: number) => {
      const root = busyboxRootfs(join(dir, `root-${mb}`));
      execFileSync('dd', ['if=/dev/zero', `of=${join(root, 'pad')}`, 'bs=1M', `count=${mb}`], { stdio: 'ignore' });
      const sb = sandbox({ image: Image.fromDirectory(root) });
      await sb.run(['/bin/sh', '-c', 'echo change > /change']);
      const t0 = performance.now();
      await sb.snapshot({ store });
      return performance.now() - t0;
    };
    const small = await time(1);
    const big = await time(300);
    expect(big).toBeLessThan(small * 5 + 250);
  });

  it('destroying sandboxes leaves snapshot layers in the store until gc', async ({ tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const sb = new Sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'rootfs'))) });
    await sb.run(['/bin/sh', '-c', 'echo x > /x']);
    const snap = await sb.snapshot({ store });
    await sb.destroy();
    expect(
      execFileSync('ls', [join(store.root, 'layers')], { encoding: 'utf8' })
        .trim()
        .split('\n')
    ).toHaveLength(1);
    Image.remove(snap.id, { store });
    expect(await Image.gc({ store })).toEqual(snap.layerIds);
  });
});

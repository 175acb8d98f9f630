import { execFileSync } from 'node:child_process';
import { mkdirSync, copyFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { Image, LayerStore } from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';
import { requireFeature } from '../helpers/require-feature.js';
import { BUSYBOX, busyboxRootfs, tool } from '../helpers/images.js';

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const rootless = process.getuid?.() !== 0 ? ['--rootless'] : [];

/** An image built by umoci from a busybox rootfs, in an OCI layout at dir/lay:t. */
function umociImage(dir: string): string {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const a of ['sh', 'cat', 'echo']) symlinkSync('busybox', join(rootfs, 'bin', a));
  const lay = join(dir, 'lay');
  tool('umoci', ['init', '--layout', lay]);
  tool('umoci', ['new', '--image', `${lay}:t`]);
  tool('umoci', ['insert', ...rootless, '--image', `${lay}:t`, rootfs, '/']);
  tool('umoci', [
    'config',
    '--image',
    `${lay}:t`,
    '--config.env',
    'GREETING=from-umoci',
    '--config.workingdir',
    '/bin',
    '--config.cmd',
    '/bin/sh',
    '--config.cmd',
    '-c',
    '--config.cmd',
    'echo $GREETING $(pwd)',
  ]);
  return lay;
}

describe('images made by other OCI tools', () => {
  it('umoci layout → skopeo oci-archive and docker-archive → sandkit imports and runs them', async ({
    sandbox,
    tempDir,
    task,
    skip,
  }) => {
    requireFeature(
      { task, skip } as never,
      has('umoci') && has('skopeo'),
      'umoci and skopeo are not installed (apt-get install umoci skopeo)'
    );
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const lay = umociImage(dir);
    tool('skopeo', ['copy', '-q', `oci:${lay}:t`, `oci-archive:${join(dir, 'img.oci.tar')}`]);
    tool('skopeo', ['copy', '-q', `oci:${lay}:t`, `docker-archive:${join(dir, 'img.docker.tar')}:demo:t`]);
    for (const file of ['img.oci.tar', 'img.docker.tar']) {
      const img = await Image.fromOCI(join(dir, file), { store });
      const r = await sandbox({ image: img }).run(img.defaultCommand());
      expect(r.stdout).toBe('from-umoci /bin\n');
    }
    // the layout directory itself imports too, and shares the layer
    const fromLayout = await Image.fromOCI(lay, { store });
    expect(fromLayout.config.env.GREETING).toBe('from-umoci');
    expect(
      execFileSync('ls', [join(store.root, 'layers')], { encoding: 'utf8' })
        .trim()
        .split('\n')
    ).toHaveLength(1);
  });

  it('a snapshot export is readable by skopeo and unpackable by umoci', async ({ sandbox, tempDir, task, skip }) => {
    requireFeature(
      { task, skip } as never,
      has('umoci') && has('skopeo'),
      'umoci and skopeo are not installed (apt-get install umoci skopeo)'
    );
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'root'))) });
    await sb.run([
      '/bin/sh',
      '-c',
      'echo made > /made && rm /etc/group && mkdir -p /opq && echo new > /opq/f && /bin/busybox truncate -s 256M /sparse && echo tail >> /sparse',
    ]);
    const snap = await sb.snapshot({ store });
    const out = join(dir, 'snap.oci.tar');
    await snap.export(out, { name: 'snap' });
    const inspect = JSON.parse(tool('skopeo', ['inspect', `oci-archive:${out}`]));
    expect(inspect.Layers).toHaveLength(2);
    tool('skopeo', ['copy', '-q', `oci-archive:${out}`, `oci:${join(dir, 'copy')}:snap`]);
    tool('umoci', ['unpack', ...rootless, '--image', `${join(dir, 'copy')}:snap`, join(dir, 'bundle')]);
    expect(execFileSync('cat', [join(dir, 'bundle', 'rootfs', 'made')], { encoding: 'utf8' })).toBe('made\n');
    expect(() => execFileSync('test', ['-e', join(dir, 'bundle', 'rootfs', 'etc', 'group')])).toThrow();
    // Our sparse files (PAX sparse 1.0) read back whole: the size, the data after the hole.
    expect(statSync(out).size).toBeLessThan(16 << 20);
    const sparse = join(dir, 'bundle', 'rootfs', 'sparse');
    expect(statSync(sparse).size).toBe(256 * 1024 ** 2 + 5);
    expect(execFileSync('tail', ['-c', '5', sparse], { encoding: 'utf8' })).toBe('tail\n');
  });
});

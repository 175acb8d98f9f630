// Sparse files as GNU tar writes them — old GNU 'S' entries with extension headers, PAX sparse
// 0.0, 0.1 and 1.0 — import into the layer store as sparse files with the same content, and
// stay within maxBytes / maxEntries; copyIn writes them exactly, counting their full size.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { Image, LayerStore, SandboxFilesError, SandboxImageError } from '../../src/index.js';
import { busyboxRootfs } from '../helpers/images.js';
import { it } from '../helpers/sandboxes.js';

const MiB = 1 << 20;

/** A 64 MiB file with `extents` 4 KiB stretches of data, 1 MiB apart, ending in a hole. */
function holey(path: string, extents: number): void {
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < extents; i++) writeSync(fd, Buffer.alloc(4096, 0x41 + (i % 26)), 0, 4096, i * MiB + 8192);
  } finally {
    closeSync(fd);
  }
  execFileSync('truncate', ['-s', String(64 * MiB), path]);
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const FORMATS: Array<[string, string[]]> = [
  ['old GNU (type S, extension headers)', ['--format=gnu']],
  ['PAX 0.0', ['--format=pax', '--sparse-version=0.0']],
  ['PAX 0.1', ['--format=pax', '--sparse-version=0.1']],
  ['PAX 1.0', ['--format=pax', '--sparse-version=1.0']],
];

describe('sparse tar entries', () => {
  it.for(FORMATS)('%s: imports with the same content, holes kept as holes', async ([, flags], { tempDir }) => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src', 'd'), { recursive: true });
    // 60 extents: the 4 of an old GNU header and three extension blocks of 21.
    holey(join(dir, 'src', 'd', 'many'), 60);
    holey(join(dir, 'src', 'one'), 1);
    execFileSync('truncate', ['-s', String(10 * MiB), join(dir, 'src', 'empty')]);
    const tar = join(dir, 'sparse.tar');
    execFileSync('tar', ['--sparse', ...flags, '-C', join(dir, 'src'), '-cf', tar, 'd', 'one', 'empty']);
    expect(statSync(tar).size).toBeLessThan(2 * MiB);
    const img = await Image.fromTar(tar, { store: new LayerStore(join(dir, 'store')) });
    const layer = img.layerStore!.layerDir(img.stack.layers[0]!);
    for (const [name, data] of [
      ['d/many', 60 * 4096],
      ['one', 4096],
      ['empty', 0],
    ] as const) {
      const got = statSync(join(layer, name));
      expect(got.size, name).toBe(statSync(join(dir, 'src', name)).size);
      expect(got.blocks * 512, `${name} is stored sparse`).toBeLessThanOrEqual(data + 64 * 1024);
      expect(sha(join(layer, name)), name).toBe(sha(join(dir, 'src', name)));
    }
  });

  it.for(FORMATS)(
    '%s: a map longer than maxEntries is too-large; maxBytes counts stored bytes, holes are free',
    async ([, flags], { tempDir }) => {
      const dir = tempDir();
      mkdirSync(join(dir, 'src'));
      holey(join(dir, 'src', 'f'), 60);
      const tar = join(dir, 'sparse.tar');
      execFileSync('tar', ['--sparse', ...flags, '-C', join(dir, 'src'), '-cf', tar, 'f']);
      const store = new LayerStore(join(dir, 'store'));
      const entries = await Image.fromTar(tar, { store, maxEntries: 30 }).catch((e: unknown) => e);
      expect(entries).toBeInstanceOf(SandboxImageError);
      expect((entries as SandboxImageError).reason, String(entries)).toBe('too-large');
      // 240 KiB stored of a 64 MiB file.
      const bytes = await Image.fromTar(tar, { store, maxBytes: 128 * 1024 }).catch((e: unknown) => e);
      expect(bytes).toBeInstanceOf(SandboxImageError);
      expect((bytes as SandboxImageError).reason, String(bytes)).toBe('too-large');
      expect((await Image.fromTar(tar, { store, maxBytes: 8 * MiB, maxEntries: 100 })).stack.layers).toHaveLength(1);
    }
  );

  it('copyIn of GNU sparse archives: the full size counts against maxBytes, the content arrives exact', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    holey(join(dir, 'src', 'f'), 60);
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'root'))) });
    const want = sha(join(dir, 'src', 'f'));
    for (const [name, flags] of FORMATS) {
      const tar = join(dir, 'sparse.tar');
      execFileSync('tar', ['--sparse', ...flags, '-C', join(dir, 'src'), '-cf', tar, 'f']);
      const err = await sb.files
        .copyIn(createReadStream(tar), '/small', { maxBytes: 32 * MiB })
        .catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(SandboxFilesError);
      expect((err as SandboxFilesError).errnoCode, name).toBe('EFBIG');
      await sb.files.copyIn(createReadStream(tar), '/dst');
      const r = await sb.run(['/bin/sh', '-c', 'sha256sum /dst/f && rm -r /dst']);
      expect(r.stdout.split(' ')[0], name).toBe(want);
    }
  });
});

// Attacks on the files API, copyIn's archive reader and files as stdio, written against the
// interface rather than the other rows: planted links swapped while calls run, hard links to
// files the acting user cannot read, odd `user` values, /proc through the API, hostile trees
// for copyOut and archives whose extended headers declare huge sizes. docs/security.md names them.
import { Readable } from 'node:stream';
import { describe, expect } from 'vitest';
import { SandboxError, SandboxImageError, SandboxOptionsError } from '../../src/index.js';
import { readTar, MAX_TAR_META_BYTES } from '../../src/archive/tar-reader.js';
import { busyboxRootfs } from '../helpers/images.js';
import { isRoot } from '../helpers/require-feature.js';
import { it, sh } from '../helpers/sandboxes.js';
import { Image } from '../../src/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SECRET = 'root only\n';

function image(dir: string): Image {
  busyboxRootfs(dir);
  mkdirSync(join(dir, 'secret'), { mode: 0o755 });
  writeFileSync(join(dir, 'secret', 'key'), SECRET, { mode: 0o600 });
  return Image.fromDirectory(dir);
}

/** A raw ustar header block of type `flag` declaring `size` bytes of body. */
function rawHeader(flag: string, size: number, name = '././@LongLink'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(flag, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** An endless body after `header`, counting what the reader pulled. */
function counted(header: Buffer): { source: AsyncIterable<Buffer>; pulled: () => number } {
  let pulled = 0;
  const chunk = Buffer.alloc(1 << 20, 'a');
  async function* gen(): AsyncGenerator<Buffer> {
    pulled += header.length;
    yield header;
    for (;;) {
      pulled += chunk.length;
      yield chunk;
      if (pulled > 512 * 1024 * 1024) return;
    }
  }
  return { source: gen(), pulled: () => pulled };
}

describe('archive reader: extended headers are capped before they are buffered', () => {
  for (const flag of ['L', 'K', 'x', 'g']) {
    it(`a '${flag}' header declaring 8 GiB is refused after reading at most the cap`, async () => {
      const { source, pulled } = counted(rawHeader(flag, 8 * 1024 ** 3));
      const err = await (async () => {
        for await (const _ of readTar(source)) {
          /* none */
        }
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxImageError);
      expect((err as Error).message).toMatch(/metadata entry/);
      expect(pulled()).toBeLessThanOrEqual(MAX_TAR_META_BYTES + (2 << 20));
    });
  }

  it('copyIn of such an archive fails with a typed error, leaves nothing, and Node does not grow', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: image(tempDir()) });
    const { source } = counted(rawHeader('L', 4 * 1024 ** 3 - 1));
    const rss = process.memoryUsage().rss;
    const err = await sb.files.copyIn(Readable.from(source), '/dst').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(process.memoryUsage().rss - rss).toBeLessThan(128 * 1024 * 1024);
    expect(await sb.files.exists('/dst')).toBe(false);
  });
});

describe('files API: planted objects and odd users', () => {
  it('user values that are not ids are refused as options, not acted as', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: image(tempDir()) });
    for (const user of [-1, 2 ** 32, 0xffffffff, Number.NaN, 1.5, { uid: -1 }, { uid: 0, gid: 2 ** 40 }, '../etc']) {
      await expect(sb.files.read('/secret/key', { user: user as never })).rejects.toBeInstanceOf(SandboxOptionsError);
    }
  });

  it('a FIFO, a device and /proc files are not read through the API', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: image(tempDir()) });
    await sh(sb, 'mkfifo /tmp/fifo');
    for (const path of ['/tmp/fifo', '/dev/zero', '/proc/1/environ', '/proc/self/environ', '/proc/1/root/secret/key']) {
      await expect(sb.files.read(path, { followSymlinks: true, crossMounts: true })).rejects.toBeInstanceOf(
        SandboxError
      );
    }
  });

  it('a hard link made by nobody to a root-only file gives nobody nothing', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: image(tempDir()) });
    if (!isRoot) return void console.log('rootless: only uid 0 is mapped, so there is no second user to act as');
    await sh(sb, 'ln /secret/key /tmp/hl 2>/dev/null || cp /dev/null /tmp/hl-refused; true', 65534);
    if (await sb.files.exists('/tmp/hl'))
      await expect(sb.files.read('/tmp/hl', { user: 65534 })).rejects.toMatchObject({ errnoCode: 'EACCES' });
    expect(await sb.files.readText('/secret/key')).toBe(SECRET);
  });
});

describe('files API: links swapped while calls run', () => {
  it('a program swapping a directory and a symlink to the secret in a loop never makes a read return it', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: image(tempDir()) });
    await sh(sb, 'mkdir -p /tmp/race/d && echo public > /tmp/race/d/key');
    const racer = sb.spawn(
      [
        '/bin/sh',
        '-c',
        'cd /tmp/race; while :; do mv d real; ln -s /secret d; rm d; mv real d; ln -sfn /secret l; done',
      ],
      { user: 0, limits: { wallTime: '20s' } }
    );
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      for (const path of ['/tmp/race/d/key', '/tmp/race/l/key']) {
        const got = await sb.files
          .readText(path)
          .catch((e: unknown) => (e instanceof SandboxError ? 'error' : String(e)));
        seen.add(got);
      }
    }
    racer.kill('SIGKILL');
    await racer.then(
      () => undefined,
      () => undefined
    );
    expect(seen.has(SECRET)).toBe(false);
    expect([...seen].every((s) => s === 'public\n' || s === 'error')).toBe(true);
  });
});

// The files API's error contract: every failure is a SandboxError with a code naming what was
// wrong — bad arguments before anything is done, a typed error when the source or the helper
// fails, and an AbortSignal on every long operation.
import { Readable } from 'node:stream';
import { describe, expect } from 'vitest';
import {
  Image,
  SandboxAbortedError,
  SandboxError,
  SandboxFilesError,
  SandboxHelperError,
  SandboxOptionsError,
} from '../../src/index.js';
import { connection } from '../../src/platform/sessions.js';
import { busyboxRootfs, layerTar } from '../helpers/images.js';
import { it } from '../helpers/sandboxes.js';
import { waitUntil, isAlive } from '../helpers/host.js';

const bad = (field: string) => ({ name: 'SandboxOptionsError', code: 'ERR_SANDBOX_OPTIONS', field });

describe('files API: bad arguments are SandboxOptionsError naming the field', () => {
  it('write data, modes, read maxBytes, symlink targets, paths and options', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    const f = sb.files;
    for (const data of [5, {}, null, undefined, [1, 2]])
      await expect(f.write('/a', data as never)).rejects.toMatchObject(bad('data'));
    for (const mode of ['rw', 0o7777777, -1, 1.5, NaN])
      await expect(f.write('/a', 'x', { mode: mode as never })).rejects.toMatchObject(bad('mode'));
    for (const mode of ['rw', 0o10000])
      await expect(f.mkdir('/d', { mode: mode as never })).rejects.toMatchObject(bad('mode'));
    for (const maxBytes of [-1, 1.5, 'x', Infinity])
      await expect(f.read('/a', { maxBytes: maxBytes as never })).rejects.toMatchObject(bad('maxBytes'));
    for (const target of ['a\0b', '', 5, 'x'.repeat(5000)])
      await expect(f.symlink(target as never, '/l')).rejects.toMatchObject(bad('target'));
    for (const path of ['rel', '/a\0b', 5, `/${'p'.repeat(5000)}`])
      await expect(f.read(path as never)).rejects.toMatchObject(bad('path'));
    await expect(f.list('/', { maxEntries: -5 })).rejects.toMatchObject(bad('maxEntries'));
    await expect(f.read('/a', { folow: true } as never)).rejects.toMatchObject(bad('folow'));
    await expect(f.read('/a', { user: -1 })).rejects.toMatchObject(bad('user'));
    await expect(f.read('/a', { user: { uid: 'x' } } as never)).rejects.toMatchObject(bad('user.uid'));
    await expect(f.read('/a', { signal: 'soon' } as never)).rejects.toMatchObject(bad('signal'));
    await expect(f.read('/a', { followSymlinks: 'yes' } as never)).rejects.toMatchObject(bad('followSymlinks'));
    await expect(f.copyIn(5 as never, '/d')).rejects.toMatchObject(bad('source'));
    await expect(f.copyIn(Readable.from([]), '/d', { maxFiles: 'many' } as never)).rejects.toMatchObject(
      bad('maxFiles')
    );
    expect(() => f.copyOut('/d', { maxBytes: -1 })).toThrow(SandboxOptionsError);
    await expect(f.read('/a', { user: 'nosuchuser' })).rejects.toMatchObject(bad('user'));
    // nothing was written by any of these
    expect(await f.exists('/a')).toBe(false);
    expect(await f.exists('/l')).toBe(false);
  });
});

describe('files API: failures of the source, of the helper, and aborts are typed', () => {
  it('copyIn of a missing host directory, of a file, and of an erroring stream', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    await expect(sb.files.copyIn('/nonexistent', '/d')).rejects.toMatchObject({
      name: 'SandboxFilesError',
      errnoCode: 'ENOENT',
    });
    await expect(sb.files.copyIn('/etc/hostname', '/d')).rejects.toMatchObject({
      name: 'SandboxFilesError',
      errnoCode: 'ENOTDIR',
    });
    const failing = new Readable({
      read() {
        this.destroy(Object.assign(new Error('disk on fire'), { code: 'EIO' }));
      },
    });
    const err = await sb.files.copyIn(failing, '/d').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxFilesError);
    expect(err).toMatchObject({ errnoCode: 'EIO' });
    expect((err as Error).message).toContain('disk on fire');
    const corrupt = await sb.files
      .copyIn(Readable.from([Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8])]), '/d')
      .catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(SandboxError);
    expect(await sb.files.exists('/d')).toBe(false);
  });

  it('copyIn of a stream that never ends is aborted by its signal and leaves nothing', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    const head = layerTar([{ path: 'a', content: 'A' }]).subarray(0, 1536); // an entry, then silence
    const endless = new Readable({ read() {} });
    endless.push(head);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = performance.now();
    await expect(sb.files.copyIn(endless, '/d', { signal: ac.signal })).rejects.toBeInstanceOf(SandboxAbortedError);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await sb.files.exists('/d')).toBe(false);
    expect(endless.destroyed).toBe(true);
  });

  it('read, write, list and copyOut take a signal', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    await sb.files.write('/a', 'x');
    const aborted = AbortSignal.abort();
    await expect(sb.files.read('/a', { signal: aborted })).rejects.toBeInstanceOf(SandboxAbortedError);
    await expect(sb.files.write('/b', 'x', { signal: aborted })).rejects.toBeInstanceOf(SandboxAbortedError);
    await expect(sb.files.list('/', { signal: aborted })).rejects.toBeInstanceOf(SandboxAbortedError);
    await expect(
      (async () => {
        for await (const _ of sb.files.copyOut('/a', { signal: aborted }));
      })()
    ).rejects.toBeInstanceOf(SandboxAbortedError);
    expect(await sb.files.exists('/b')).toBe(false);
    // the channel is still in step after abandoned calls
    expect(await sb.files.readText('/a')).toBe('x');
  });

  it('after the helper dies, files calls fail with a typed error, the first new one too', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    await sb.files.write('/a', 'x');
    const helper = connection().pid!;
    const inFlight = sb.files.read('/a').catch((e: unknown) => e);
    process.kill(helper, 'SIGKILL');
    await waitUntil(() => !isAlive(helper), 5000);
    for (const result of [
      await inFlight,
      await sb.files.read('/a').catch((e: unknown) => e),
      await sb.files.write('/b', 'y').catch((e: unknown) => e),
    ]) {
      if (Buffer.isBuffer(result)) continue; // the read made it before the kill
      expect(result).toBeInstanceOf(SandboxError);
      expect((result as Error).message).not.toMatch(/EPIPE/);
      expect(String((result as { code?: string }).code)).toMatch(/^ERR_SANDBOX_/);
    }
    void SandboxHelperError;
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect } from 'vitest';
import { Image, SandboxFilesError } from '../../src/index.js';
import { readTar } from '../../src/archive/tar-reader.js';
import { it } from '../helpers/sandboxes.js';
import { busyboxRootfs, layerTar } from '../helpers/images.js';

async function tarNames(stream: Readable): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of readTar(stream as AsyncIterable<Buffer>)) {
    const chunks: Buffer[] = [];
    for await (const c of e.data) chunks.push(c);
    out[e.path] =
      e.type === 'file' ? Buffer.concat(chunks).toString() : e.type === 'symlink' ? `-> ${e.linkname}` : e.type;
  }
  return out;
}

describe('sandbox.files', () => {
  it('write, read, list, stat, mkdir, remove before, during and between runs', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    await sb.files.write('/src/deep/main.txt', 'hello', { mode: 0o600 });
    expect((await sb.run(['/bin/cat', '/src/deep/main.txt'])).stdout).toBe('hello');
    const proc = sb.spawn(['/bin/sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; cat /src/deep/main.txt']);
    await sb.files.write('/src/deep/main.txt', 'during');
    await sb.files.write('/go', '');
    expect((await proc).stdout).toBe('during');
    await sb.run(['/bin/sh', '-c', 'echo made > /src/made && ln -s made /src/link']);
    const list = await sb.files.list('/src');
    expect(list.map((e) => `${e.name}:${e.type}`).sort()).toEqual(['deep:dir', 'link:symlink', 'made:file']);
    expect(list.find((e) => e.name === 'link')?.target).toBe('made');
    expect(await sb.files.stat('/src/deep/main.txt')).toMatchObject({ type: 'file', mode: 0o600, size: 6 });
    await expect(sb.files.readText('/src/link')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    expect(await sb.files.readText('/src/link', { followSymlinks: true })).toBe('made\n');
    await sb.files.mkdir('/a/b/c');
    expect((await sb.files.stat('/a/b/c')).type).toBe('dir');
    await sb.files.remove('/a', { recursive: true });
    expect(await sb.files.exists('/a')).toBe(false);
    const err = await sb.files.read('/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxFilesError);
    expect(err).toMatchObject({ code: 'ERR_SANDBOX_FILES', errnoCode: 'ENOENT', path: '/nope' });
    await expect(sb.files.read('/src')).rejects.toMatchObject({ errnoCode: 'EISDIR' });
    await expect(sb.files.read('/src/made', { maxBytes: 2 })).rejects.toMatchObject({ errnoCode: 'EFBIG' });
  });

  it('copyIn and copyOut round-trip a tree', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'root'))) });
    mkdirSync(join(dir, 'in', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'in', 'a.txt'), 'A');
    writeFileSync(join(dir, 'in', 'sub', 'b.txt'), 'B');
    await sb.files.copyIn(join(dir, 'in'), '/dst');
    const tar = layerTar([
      { path: 'x/', dir: true },
      { path: 'x/c', content: 'C', mode: 0o755 },
      { path: 'x/l', symlink: 'c' },
      { path: 'x/h', hardlink: 'x/c' },
    ]);
    await sb.files.copyIn(Readable.from([tar]), '/dst');
    expect(
      (await sb.run(['/bin/sh', '-c', 'cd /dst && cat a.txt sub/b.txt x/c x/l x/h && stat -c %a x/c'])).stdout
    ).toBe('ABCCC\n755\n'.replace('ABCCC\n', 'ABCCC'));
    const names = await tarNames(sb.files.copyOut('/dst'));
    expect(names).toMatchObject({
      'dst/': 'dir',
      'dst/a.txt': 'A',
      'dst/sub/b.txt': 'B',
      'dst/x/c': 'C',
      'dst/x/l': '-> c',
    });
    await expect(tarNames(sb.files.copyOut('/dst', { maxFiles: 3 }))).rejects.toBeInstanceOf(SandboxFilesError);
    await expect(tarNames(sb.files.copyOut('/dst', { maxBytes: 2 }))).rejects.toBeInstanceOf(SandboxFilesError);
  });

  it.for([
    ['absolute path', [{ path: '/etc/evil', content: 'x' }]],
    ['..', [{ path: '../../../tmp/evil', content: 'x' }]],
    ['hard link outside', [{ path: 'h', hardlink: '/etc/passwd' }]],
    ['hard link to an entry not in the archive', [{ path: 'h', hardlink: 'etc/passwd' }]],
  ] as const)('copyIn refuses a tar entry with %s', async ([, entries], { sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    const err = await sb.files.copyIn(Readable.from([layerTar(entries as never)]), '/dst').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxFilesError);
    expect(existsSync('/tmp/evil')).toBe(false);
  });
});

describe('sandbox.files never leaves the sandbox', () => {
  it('symlinks planted inside resolve inside: ln -s / /x, ln -s /etc/shadow', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'root'))) });
    const hostFile = join(dir, 'host-secret');
    writeFileSync(hostFile, 'HOST');
    await sb.run([
      '/bin/sh',
      '-c',
      `echo sandbox-shadow > /etc/shadow && ln -s / /x && ln -s /etc/shadow /s && ln -s ${hostFile} /h && ln -s ../../../../../.. /up && mkdir -p /out && ln -s ${dir} /out/host`,
    ]);
    // by default no planted link is followed at all
    for (const p of ['/x/etc/shadow', '/s', '/up/etc/shadow', '/h'])
      await expect(sb.files.read(p)).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    await expect(sb.files.write('/out/host/planted', 'x')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    // followed on request, they resolve inside
    const follow = { followSymlinks: true, crossMounts: true };
    expect(await sb.files.readText('/x/etc/shadow', follow)).toBe('sandbox-shadow\n');
    expect(await sb.files.readText('/s', follow)).toBe('sandbox-shadow\n');
    expect(await sb.files.readText('/up/etc/shadow', follow)).toBe('sandbox-shadow\n');
    await expect(sb.files.read('/h', follow)).rejects.toMatchObject({ errnoCode: 'ENOENT' });
    // writes through the planted links land inside
    await sb.files.write('/h', 'written', follow);
    expect(readFileSync(hostFile, 'utf8')).toBe('HOST');
    await sb.files.write('/out/host/planted', 'x', follow);
    expect(existsSync(join(dir, 'planted'))).toBe(false);
    expect((await sb.run(['/bin/cat', `${dir}/planted`])).stdout).toBe('x');
    // copyOut archives the links, never what they point at on the host
    const names = await tarNames(sb.files.copyOut('/out'));
    expect(names).toEqual({ 'out/': 'dir', 'out/host': `-> ${dir}` });
    // copyIn never follows a planted directory symlink
    await expect(
      sb.files.copyIn(Readable.from([layerTar([{ path: 'host/in', content: 'y' }])]), '/out')
    ).rejects.toMatchObject({ errnoCode: 'ELOOP', path: '/out/host/in' });
    expect(existsSync(join(dir, 'in'))).toBe(false);
    expect((await sb.run(['/bin/sh', '-c', `ls ${dir}/in 2>&1 || echo gone`])).stdout).toContain('gone');
  });

  it('refuses /proc and /sys files and devices', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    await sb.run(['/bin/sh', '-c', 'ln -s /proc/sys/kernel/core_pattern /cp; ln -s /proc/self/root /pr']);
    await expect(sb.files.write('/cp', '|/tmp/evil')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    await expect(
      sb.files.write('/cp', '|/tmp/evil', { followSymlinks: true, crossMounts: true })
    ).rejects.toMatchObject({ errnoCode: 'EPERM' });
    await expect(sb.files.read('/proc/1/environ')).rejects.toMatchObject({ errnoCode: 'EPERM' });
    await expect(sb.files.read('/dev/zero')).rejects.toMatchObject({ errnoCode: 'EPERM' });
    await expect(sb.files.read('/pr/etc/passwd')).rejects.toBeInstanceOf(SandboxFilesError);
    await expect(sb.files.read('/pr/etc/passwd', { followSymlinks: true, crossMounts: true })).rejects.toBeInstanceOf(
      SandboxFilesError
    );
    expect(readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).not.toContain('/tmp/evil');
  });

  it('fails cleanly once the sandbox is destroyed', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: Image.fromDirectory(busyboxRootfs(tempDir())) });
    await sb.files.write('/a', 'x');
    await sb.destroy();
    await expect(sb.files.read('/a')).rejects.toMatchObject({ code: 'ERR_SANDBOX_DESTROYED' });
    void execFileSync;
  });
});

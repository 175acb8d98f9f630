// The files API and user-name resolution against a hostile sandbox: nothing a program plants
// (symlinks, FIFOs, rewritten account files, hard links, huge listings) may make the host read
// or write what that program could not, or stall Node. docs/security.md names these rows.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect } from 'vitest';
import { Image, SandboxError, SandboxFilesError, SandboxOptionsError, type Sandbox } from '../../src/index.js';
import { busyboxRootfs, layerTar } from '../helpers/images.js';
import { isRoot } from '../helpers/require-feature.js';
import { it, sh } from '../helpers/sandboxes.js';

/**
 * `judge`, the unprivileged user of these rows: uid 1000 on a root host. Rootless only uid 0 is
 * mapped, so there `judge` is 0 and the rows check what they can (resolution and links).
 */
const JUDGE_UID = isRoot ? 1000 : 0;
/** A uid the sandbox maps other than judge's, for rewrites that must not take effect. */
const OTHER_UID = isRoot ? 0 : 4242;
const SECRET = 'the judge answer\n';

function judgeImage(dir: string): Image {
  busyboxRootfs(dir);
  writeFileSync(
    join(dir, 'etc', 'passwd'),
    `root:x:0:0:root:/root:/bin/sh\njudge:x:${JUDGE_UID}:${JUDGE_UID}:judge:/:/bin/sh\n`
  );
  writeFileSync(join(dir, 'etc', 'group'), `root:x:0:\njudge:x:${JUDGE_UID}:\n`);
  mkdirSync(join(dir, 'judge'), { mode: 0o700 });
  writeFileSync(join(dir, 'judge', 'answer.txt'), SECRET, { mode: 0o600 });
  return Image.fromDirectory(dir);
}

/** The uid and gid a program run as `user` gets, read from /proc (no name lookup inside). */
async function idsOf(sb: Sandbox, user: string): Promise<string> {
  return sh(sb, 'while read k r e s f; do case $k in Uid:|Gid:) echo $r;; esac; done < /proc/self/status', user);
}

/** A root-owned (rootless: the user's) host directory bound read-write at /data. */
function hostBind(dir: string): { host: string; victim: string } {
  const host = join(dir, 'bound');
  mkdirSync(host);
  chmodSync(host, 0o777);
  const victim = join(host, 'root-owned');
  writeFileSync(victim, 'ORIGINAL', { mode: 0o644 });
  return { host, victim };
}

describe('host-side parsing: user names never come from the writable layer', () => {
  it.for([
    ['a symlink to a host file', (host: string) => `rm /etc/passwd && ln -s ${host} /etc/passwd`],
    ['/etc as a symlink to a host directory', (host: string) => `rm -r /etc && ln -s ${join(host, '..')} /etc`],
    ['a rewritten /etc/passwd', () => `echo 'victim:x:0:0::/:/bin/sh' >> /etc/passwd`],
  ] as const)(
    '/etc/passwd replaced by %s: the name resolves from the image',
    async ([, plant], { sandbox, tempDir }) => {
      const dir = tempDir();
      const hostPasswd = join(dir, 'host', 'passwd');
      mkdirSync(join(dir, 'host'));
      writeFileSync(hostPasswd, 'victim:x:0:0:host file:/:/bin/sh\n');
      const sb = sandbox({ image: judgeImage(join(dir, 'root')) });
      await sh(sb, plant(hostPasswd));
      const err = await sb.run(['/bin/id', '-u'], { user: 'victim' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxOptionsError);
      expect((err as Error).message).not.toContain('host file');
      expect(await idsOf(sb, 'judge')).toBe(`${JUDGE_UID}\n${JUDGE_UID}\n`);
    }
  );

  it('a root step rewriting judge to another uid does not change what user: judge means', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await sh(
      sb,
      `echo 'judge:x:${OTHER_UID}:${OTHER_UID}::/:/bin/sh' > /etc/passwd && echo 'judge:x:${OTHER_UID}:judge' > /etc/group`
    );
    expect(await idsOf(sb, 'judge')).toBe(`${JUDGE_UID}\n${JUDGE_UID}\n`);
  });

  it('a FIFO as /etc/passwd does not block Node', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await sh(sb, 'rm /etc/passwd /etc/group && /bin/busybox mkfifo /etc/passwd /etc/group');
    const t0 = performance.now();
    expect(await idsOf(sb, 'judge')).toBe(`${JUDGE_UID}\n${JUDGE_UID}\n`);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('/etc/passwd as a link to /dev/zero is not read', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await sh(sb, 'rm /etc/passwd && ln -s /dev/zero /etc/passwd');
    const rss = process.memoryUsage().rss;
    expect(await idsOf(sb, 'judge')).toBe(`${JUDGE_UID}\n${JUDGE_UID}\n`);
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 1024 * 1024);
  });

  it('an image layer whose /etc/passwd is a symlink, a FIFO or oversized is not followed or read', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    const host = join(dir, 'host-passwd');
    writeFileSync(host, 'victim:x:0:0::/:/bin/sh\n');
    const img = join(dir, 'root');
    busyboxRootfs(img);
    const { rmSync, symlinkSync } = await import('node:fs');
    rmSync(join(img, 'etc', 'passwd'));
    symlinkSync(host, join(img, 'etc', 'passwd'));
    const sb = sandbox({ image: Image.fromDirectory(img) });
    await expect(sb.run(['/bin/true'], { user: 'victim' })).rejects.toBeInstanceOf(SandboxOptionsError);
    rmSync(join(img, 'etc', 'passwd'));
    writeFileSync(join(img, 'etc', 'passwd'), Buffer.alloc(2 * 1024 * 1024, 'a'));
    await expect(sb.run(['/bin/true'], { user: 'victim' })).rejects.toThrow(/larger than/);
  });
});

describe('files API credentials: a call acts as a sandbox user, and follows no planted link', () => {
  it('a link planted at the final component to a root-only file is not followed', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await sh(sb, 'ln -s /judge/answer.txt /tmp/out', 'judge');
    await expect(sb.files.read('/tmp/out')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    await expect(sb.files.readText('/tmp/out', { user: 'judge' })).rejects.toBeInstanceOf(SandboxFilesError);
    // followed on request, the call still has only the acting user's rights
    if (isRoot)
      await expect(
        sb.files.read('/tmp/out', { user: 'judge', followSymlinks: true, crossMounts: true })
      ).rejects.toMatchObject({ errnoCode: 'EACCES' });
  });

  it('a link planted at an intermediate component is not followed', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await sh(sb, 'mkdir -p /tmp/d && ln -s /judge /tmp/d/j && ln -s / /tmp/root', 'judge');
    await expect(sb.files.read('/tmp/d/j/answer.txt')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    await expect(sb.files.read('/tmp/root/judge/answer.txt')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    await expect(sb.files.list('/tmp/d/j')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    await expect(sb.files.write('/tmp/d/j/answer.txt', 'x')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
    expect(await sh(sb, 'cat /judge/answer.txt')).toBe(SECRET);
  });

  it("reads and writes have the acting user's permissions (root host: judge cannot read root's 0600 file)", async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    expect(await sb.files.readText('/judge/answer.txt')).toBe(SECRET);
    if (isRoot) {
      await expect(sb.files.read('/judge/answer.txt', { user: 'judge' })).rejects.toMatchObject({
        errnoCode: 'EACCES',
      });
      await expect(sb.files.write('/judge/answer.txt', 'x', { user: 'judge' })).rejects.toMatchObject({
        errnoCode: 'EACCES',
      });
      await expect(sb.files.list('/judge', { user: 'judge' })).rejects.toMatchObject({ errnoCode: 'EACCES' });
      await sb.files.write('/tmp/mine', 'judge', { user: 'judge' });
      expect(await sb.files.stat('/tmp/mine')).toMatchObject({ uid: JUDGE_UID, gid: JUDGE_UID });
    } else {
      // rootless the sandbox maps uid 0 alone: any other uid is refused, not acted as
      await expect(sb.files.read('/judge/answer.txt', { user: 65534 })).rejects.toMatchObject({ errnoCode: 'EINVAL' });
    }
    expect(await sh(sb, 'cat /judge/answer.txt')).toBe(SECRET);
  });

  it('a link planted into a read-write bind does not make files.write overwrite the host file', async ({
    sandbox,
    tempDir,
  }) => {
    const { host, victim } = hostBind(tempDir());
    const sb = sandbox({ image: judgeImage(tempDir()), mounts: [{ source: host, target: '/data', readonly: false }] });
    await sh(sb, 'ln -s /data/root-owned /tmp/w && ln -s /data /tmp/dl', 'judge');
    await sh(sb, 'ln -s /data/root-owned /w');
    for (const path of ['/tmp/w', '/tmp/dl/root-owned', '/w']) {
      await expect(sb.files.write(path, 'pwned')).rejects.toMatchObject({ errnoCode: 'ELOOP' });
      await expect(sb.files.write(path, 'pwned', { followSymlinks: true })).rejects.toBeInstanceOf(SandboxFilesError);
    }
    if (isRoot)
      await expect(
        sb.files.write('/w', 'pwned', { user: 'judge', followSymlinks: true, crossMounts: true })
      ).rejects.toMatchObject({ errnoCode: 'EACCES' });
    expect(readFileSync(victim, 'utf8')).toBe('ORIGINAL');
    // the bind itself is still usable when named literally
    await sb.files.write('/data/new', 'ok');
    expect(readFileSync(join(host, 'new'), 'utf8')).toBe('ok');
  });
});

describe('copyIn of an untrusted archive stays beneath its destination', () => {
  it('an archive-made symlink (esc -> /etc, then esc/profile.d/x.sh) is not followed', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    const tar = layerTar([
      { path: 'esc', symlink: '/etc' },
      { path: 'esc/profile.d/x.sh', content: 'evil', mode: 0o6755 },
    ]);
    const err = await sb.files.copyIn(Readable.from([tar]), '/dst').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxFilesError);
    expect(await sh(sb, 'ls /etc/profile.d 2>/dev/null; ls -d /dst 2>/dev/null; true')).toBe('');
  });

  it('through a read-write bind nothing lands on the host outside the destination, and set-id bits are dropped', async ({
    sandbox,
    tempDir,
  }) => {
    const { host } = hostBind(tempDir());
    const sb = sandbox({ image: judgeImage(tempDir()), mounts: [{ source: host, target: '/data', readonly: false }] });
    const escape = layerTar([
      { path: 'esc', symlink: '/data' },
      { path: 'esc/x.sh', content: 'evil', mode: 0o6755 },
    ]);
    await expect(
      sb.files.copyIn(Readable.from([escape]), '/data/in', { preserveOwners: false })
    ).rejects.toBeInstanceOf(SandboxFilesError);
    expect(existsSync(join(host, 'x.sh'))).toBe(false);
    expect(existsSync(join(host, 'in'))).toBe(false);
    const setid = layerTar([
      { path: 'd/', dir: true, mode: 0o2775 },
      { path: 'd/x.sh', content: 'ok', mode: 0o6755 },
    ]);
    await sb.files.copyIn(Readable.from([setid]), '/data/in', { preserveOwners: false });
    expect(statSync(join(host, 'in', 'd', 'x.sh')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(host, 'in', 'd')).mode & 0o7777).toBe(0o775);
    await sb.files.copyIn(Readable.from([setid]), '/kept', { preserveSetId: true });
    expect((await sb.files.stat('/kept/d/x.sh')).mode).toBe(0o6755);
  });

  it('a symlink the sandbox planted in the destination is not followed', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await sh(sb, 'mkdir -p /dst && ln -s /judge /dst/sub && ln -s /judge/answer.txt /dst/file');
    for (const entries of [[{ path: 'sub/answer.txt', content: 'pwned' }], [{ path: 'sub/new', content: 'pwned' }]]) {
      await expect(sb.files.copyIn(Readable.from([layerTar(entries)]), '/dst')).rejects.toBeInstanceOf(
        SandboxFilesError
      );
    }
    // a file entry over a planted final link replaces the link, never writes through it
    await sb.files.copyIn(Readable.from([layerTar([{ path: 'file', content: 'mine' }])]), '/dst');
    expect(await sh(sb, 'cat /judge/answer.txt; ls /judge; cat /dst/file')).toBe(`${SECRET}answer.txt\nmine`);
    expect((await sb.files.stat('/dst/sub')).type).toBe('symlink');
  });

  it('hard links only to files the archive extracted, and never written through an existing link', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    for (const entries of [
      [
        { path: 'd', symlink: '/judge' },
        { path: 'h', hardlink: 'd/answer.txt' },
      ],
      [
        { path: 'l', symlink: '/judge/answer.txt' },
        { path: 'h', hardlink: 'l' },
      ],
      [{ path: 'h', hardlink: '../judge/answer.txt' }],
    ]) {
      await expect(sb.files.copyIn(Readable.from([layerTar(entries)]), '/dst')).rejects.toBeInstanceOf(
        SandboxFilesError
      );
    }
    await sh(sb, 'mkdir -p /dst2 && ln /judge/answer.txt /dst2/out');
    await sb.files.copyIn(Readable.from([layerTar([{ path: 'out', content: 'overwritten' }])]), '/dst2');
    expect(await sh(sb, 'cat /judge/answer.txt /dst2/out')).toBe(`${SECRET}overwritten`);
  });
});

/** n symlinks /l/0 … /l/<n-1> to target (made through the files API: quicker than n ln forks). */
async function plantLinks(sb: Sandbox, n: number, target: string): Promise<void> {
  await sb.files.mkdir('/l');
  await Promise.all(Array.from({ length: n }, (_, i) => sb.files.symlink(target, `/l/${i}`)));
}

describe('host-process DoS: listings are bounded and never stall the event loop', () => {
  it('listing 2,000 symlinks with 4,000-byte targets is fast and keeps the event loop responsive', async ({
    sandbox,
    tempDir,
  }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await plantLinks(sb, 2000, `/${'a'.repeat(3994)}`);
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const t0 = performance.now();
    const entries = await sb.files.list('/l');
    const ms = performance.now() - t0;
    delay.disable();
    expect(entries).toHaveLength(2000);
    expect(entries.every((e) => e.type === 'symlink' && e.target!.length === 3995)).toBe(true);
    expect(ms).toBeLessThan(5000);
    expect(delay.max / 1e6).toBeLessThan(500);
    await expect(sb.files.list('/l', { maxEntries: 100 })).rejects.toMatchObject({ errnoCode: 'E2BIG' });
    expect(await sb.files.list('/l', { maxEntries: 2000 })).toHaveLength(2000);
  });

  it('copyOut of the same tree stays bounded too', async ({ sandbox, tempDir }) => {
    const sb = sandbox({ image: judgeImage(tempDir()) });
    await plantLinks(sb, 500, `/${'b'.repeat(4000)}`);
    let bytes = 0;
    for await (const chunk of sb.files.copyOut('/l')) bytes += (chunk as Buffer).length;
    expect(bytes).toBeGreaterThan(500 * 512);
    await expect(
      (async () => {
        for await (const _ of sb.files.copyOut('/l', { maxFiles: 10 }));
      })()
    ).rejects.toBeInstanceOf(SandboxError);
  });
});

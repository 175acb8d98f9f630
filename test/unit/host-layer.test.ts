import { describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHostLayer, hostAccountFiles, resolveHostImageOptions } from '../../src/rootfs/host-layer.js';
import { Overlay } from '../../src/rootfs/overlay.js';

describe('host layer', () => {
  it('copies /etc without secrets and mirrors the host system directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-hl-'));
    try {
      const layer = buildHostLayer(join(dir, 'layer'));
      const etc = join(layer.dir, 'etc');
      // Not the host's accounts: root and nobody only.
      expect(readFileSync(join(etc, 'passwd'), 'utf8')).toBe(
        'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'
      );
      expect(readFileSync(join(etc, 'group'), 'utf8')).toBe('root:x:0:\nnogroup:x:65534:\n');
      for (const secret of ['subuid', 'subgid']) expect(existsSync(join(etc, secret)), secret).toBe(false);
      for (const secret of ['shadow', 'gshadow', 'shadow-', 'sudoers', 'hostname', 'hosts', 'resolv.conf']) {
        expect(existsSync(join(etc, secret)), secret).toBe(false);
      }
      expect(existsSync(join(etc, 'ssh', 'ssh_host_ed25519_key'))).toBe(false);
      for (const name of ['usr', 'bin', 'sbin', 'lib', 'lib64']) {
        if (!existsSync(`/${name}`)) continue;
        const host = lstatSync(`/${name}`);
        if (host.isSymbolicLink()) expect(readlinkSync(join(layer.dir, name))).toBe(readlinkSync(`/${name}`));
        else expect(layer.binds).toContain(`/${name}`);
      }
      for (const d of ['proc', 'dev', 'tmp', 'root', 'home'])
        expect(lstatSync(join(layer.dir, d)).isDirectory()).toBe(true);
      expect(existsSync(join(layer.dir, 'root', '.bashrc'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host image accounts', () => {
  it('lists root, the accounts given, and nobody', () => {
    const o = resolveHostImageOptions({
      users: [{ name: 'judge', uid: 1000 }],
      groups: [{ name: 'judge', gid: 1000, members: ['judge'] }],
    });
    expect(hostAccountFiles(o)).toEqual({
      passwd:
        'root:x:0:0:root:/root:/bin/sh\njudge:x:1000:1000:judge:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
      group: 'root:x:0:\njudge:x:1000:judge\nnogroup:x:65534:\n',
    });
    expect(resolveHostImageOptions({})).toBeUndefined();
  });

  it.each([
    [{ users: [{ name: 'a:b', uid: 1 }] }, 'image.users[0].name'],
    [{ users: [{ name: 'x\nroot', uid: 1 }] }, 'image.users[0].name'],
    [{ users: [{ name: 'x', uid: -1 }] }, 'image.users[0].uid'],
    [{ users: [{ name: 'x', uid: 1, home: '/a:/b' }] }, 'image.users[0].home'],
    [{ users: [{ name: 'root', uid: 5 }] }, 'image.users[0].name'],
    [{ users: [{ name: 'x', uid: 1, extra: 1 }] }, 'image.users[0].extra'],
    [{ groups: [{ name: 'g', gid: 1, members: ['a,b'] }] }, 'image.groups[0].members[0]'],
    [{ other: 1 }, 'image.other'],
  ])('rejects %j naming %s', (options, field) => {
    expect(() => resolveHostImageOptions(options)).toThrow(expect.objectContaining({ field }));
  });
});

describe('Overlay', () => {
  it('builds mount options with the writable layer on top', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-ov-'));
    try {
      const ov = Overlay.inDirectory(['/a', '/b'], dir);
      expect(ov.mountOptions(false)).toBe(`lowerdir=/a:/b,upperdir=${dir}/upper,workdir=${dir}/work`);
      expect(ov.mountOptions(true)).toMatch(/,userxattr$/);
      expect(() => new Overlay(['/a:b'], ov.dirs)).toThrow(/overlay/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHostLayer } from '../../src/rootfs/host-layer.js';
import { Overlay } from '../../src/rootfs/overlay.js';

describe('host layer', () => {
  it('copies /etc without secrets and mirrors the host system directories', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-hl-'));
    try {
      const layer = buildHostLayer(join(dir, 'layer'));
      const etc = join(layer.dir, 'etc');
      expect(existsSync(join(etc, 'passwd'))).toBe(existsSync('/etc/passwd'));
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
      for (const d of ['proc', 'dev', 'tmp', 'root', 'home']) expect(lstatSync(join(layer.dir, d)).isDirectory()).toBe(true);
      expect(existsSync(join(layer.dir, 'root', '.bashrc'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

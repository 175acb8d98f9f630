import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { containerCause, procOvermounts, procSysReadOnly } from '../../src/platform/container-limits.js';
import { writableLayerPlacement } from '../../src/platform/state-dir.js';

// /proc/self/mountinfo of a Docker container with its default masked and read-only paths.
const dockerMountinfo = [
  '600 500 0:50 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w',
  '601 600 0:52 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
  '602 601 0:53 / /proc/sys/fs/binfmt_misc rw,relatime - binfmt_misc binfmt_misc rw',
  '603 601 0:52 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw',
  '604 601 0:52 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw',
  '605 601 0:5 /null /proc/kcore rw,nosuid - devtmpfs udev rw,size=4096k',
  '606 601 0:54 / /proc/acpi ro,relatime - tmpfs tmpfs ro',
  '607 600 0:55 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro',
].join('\n');
const hostMountinfo = [
  '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
  '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
  '24 23 0:22 / /proc/sys/fs/binfmt_misc rw,relatime - binfmt_misc binfmt_misc rw',
].join('\n');

describe('container limits', () => {
  it('finds the /proc overmounts that stop a fresh procfs, but not binfmt_misc', () => {
    expect(procOvermounts(dockerMountinfo)).toEqual(['/proc/bus', '/proc/sys', '/proc/kcore', '/proc/acpi']);
    expect(procOvermounts(hostMountinfo)).toEqual([]);
    expect(procSysReadOnly(dockerMountinfo)).toBe(true);
    expect(procSysReadOnly(hostMountinfo)).toBe(false);
  });

  it('names the container setting behind a failed step, and nothing for other failures', () => {
    expect(containerCause({ step: 'userns.limits', errnoCode: 'EROFS' })?.[1]).toContain('systempaths=unconfined');
    expect(containerCause({ step: 'mount.proc', errnoCode: 'EPERM' })?.[1]).toContain('procMount: Unmasked');
    expect(containerCause({ step: 'sandbox.clone', errnoCode: 'EPERM' })?.[1]).toContain('seccomp=unconfined');
    expect(containerCause({ step: 'mount.proc', errnoCode: 'ENOMEM' })).toBeUndefined();
    expect(containerCause({ step: 'rootfs.overlay', errnoCode: 'EPERM' })).toBeUndefined();
  });
});

describe('writable layer placement', () => {
  it('keeps upper dirs on filesystems that hold them, and says why', () => {
    const dir = tmpdir();
    const p = writableLayerPlacement(dir);
    const onUpperFs = [0xef53, 0x58465342, 0x9123683e, 0x01021994].includes(statfsSync(dir).type);
    expect(p.on).toBe(onUpperFs ? 'stateDir' : 'tmpfs');
    expect(p.reason).toContain(dir);
  });

  it('puts them on a tmpfs where the filesystem cannot hold one (procfs stands in for overlayfs)', () => {
    expect(writableLayerPlacement('/proc/self')).toMatchObject({ on: 'tmpfs', filesystem: '0x9fa0' });
  });
});

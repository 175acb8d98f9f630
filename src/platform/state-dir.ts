import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { accessSync, constants, mkdirSync, statSync, statfsSync } from 'node:fs';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

/**
 * Where sandkit keeps sandboxes' writable layers and other state: `SANDKIT_STATE_DIR`, else
 * `/var/lib/sandkit` for root, `$XDG_STATE_HOME/sandkit` or `~/.local/state/sandkit` for a user,
 * falling back to `$TMPDIR/sandkit-<uid>` when the home directory is not writable.
 */
export function defaultStateDir(): string {
  if (process.env.SANDKIT_STATE_DIR) return process.env.SANDKIT_STATE_DIR;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/var/lib/sandkit';
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  if (isWritableDir(base)) return join(base, 'sandkit');
  return join(tmpdir(), `sandkit-${uid}`);
}

function isWritableDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where sandkit keeps image layers, image records and snapshots (shared by every process of
 * a user): `SANDKIT_STORE_DIR`, else `<SANDKIT_STATE_DIR>/store` when that is set, else
 * `/var/lib/sandkit/store` for root and `$XDG_DATA_HOME/sandkit` or `~/.local/share/sandkit`
 * for a user, falling back to `$TMPDIR/sandkit-<uid>/store`.
 */
export function defaultStoreDir(): string {
  if (process.env.SANDKIT_STORE_DIR) return process.env.SANDKIT_STORE_DIR;
  if (process.env.SANDKIT_STATE_DIR) return join(process.env.SANDKIT_STATE_DIR, 'store');
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/var/lib/sandkit/store';
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  if (isWritableDir(base)) return join(base, 'sandkit');
  return join(tmpdir(), `sandkit-${uid}`, 'store');
}

/** statfs f_type of kernel pseudo filesystems, where state (and overlay layers) cannot live. */
const PSEUDO_FILESYSTEMS: Record<number, string> = {
  0x9fa0: 'procfs',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x73636673: 'securityfs',
  0x1cd1: 'devpts',
  0x74726163: 'tracefs',
  0xcafe4a11: 'bpf',
  0x62656570: 'configfs',
  0x6165676c: 'pstore',
  0x958458f6: 'hugetlbfs',
  0x42494e4d: 'binfmt_misc',
  0x6e736673: 'nsfs',
};

const checkedStateDirs = new Set<string>();

/**
 * Makes sure `dir` can hold sandkit's state, once per directory and process: an absolute path
 * whose existing part is a directory on a real filesystem (not procfs, sysfs or another
 * pseudo filesystem, where a recursive mkdir can spin forever) that this process may write;
 * then makes it. `field` names the option in the error (`stateDir`, `SANDKIT_STATE_DIR`).
 * @throws {SandboxOptionsError} naming the directory and what it lacks.
 */
export function checkStateDir(dir: string, field = 'stateDir'): void {
  if (checkedStateDirs.has(dir)) return;
  const bad = (problem: string) => new SandboxOptionsError(field, `${dir}: ${problem}`);
  if (!isAbsolute(dir) || dir.includes('\0')) throw bad('expected an absolute path');
  let existing = dir;
  for (;;) {
    try {
      if (!statSync(existing).isDirectory())
        throw bad(existing === dir ? 'is not a directory' : `${existing} is not a directory`);
      break;
    } catch (err) {
      if (err instanceof SandboxOptionsError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw bad('a component of the path is not a directory');
      if (code !== 'ENOENT') throw bad(`cannot be inspected (${code ?? (err as Error).message})`);
      if (existing === '/') throw bad('no part of the path exists');
      existing = dirname(existing);
    }
  }
  const kind = PSEUDO_FILESYSTEMS[statfsSync(existing).type];
  if (kind) throw bad(`is on ${kind}, a kernel pseudo filesystem; state needs a real, writable filesystem`);
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw bad(`${existing} is not writable by this process (${(err as NodeJS.ErrnoException).code ?? 'EACCES'})`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw bad(`cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // Sessions, layer names and mount points are small, but each needs a block and an inode.
  const fs = statfsSync(dir);
  if (fs.bavail === 0) throw bad('is full (no free blocks left for this process)');
  if (fs.files > 0 && fs.ffree === 0) throw bad('is full (no free inodes left)');
  checkedStateDirs.add(dir);
}

/**
 * statfs f_type of filesystems known to hold an overlay upper and work directory (they support
 * d_type, xattrs and RENAME_WHITEOUT). On any other (overlayfs itself, as in a container's root;
 * NFS, FUSE, 9p, ecryptfs, …) the kernel refuses the mount with a bare EINVAL.
 */
const UPPER_FILESYSTEMS: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0xf2f52010: 'f2fs',
  0x2fc12fc1: 'zfs',
  0xca451a4e: 'bcachefs',
};
/** Names of filesystems that cannot hold an upper directory, for the reason doctor prints. */
const OTHER_FILESYSTEMS: Record<number, string> = {
  0x794c7630: 'overlayfs',
  0x6969: 'nfs',
  0x65735546: 'fuse',
  0x01021997: '9p',
  0xf15f: 'ecryptfs',
  0xff534d42: 'cifs',
  0xfe534d42: 'smb2',
  0x73717368: 'squashfs',
  0x9660: 'iso9660',
  0x4d44: 'vfat',
};

/** Where sandboxes' writable layers live for one state directory, and why. */
export interface WritableLayerPlacement {
  /** `stateDir`: upper/ and work/ are directories under it; `tmpfs`: a tmpfs mounted inside each sandbox's mount namespace. */
  on: 'stateDir' | 'tmpfs';
  /** The state directory's filesystem type (a name, or its statfs magic in hex). */
  filesystem: string;
  /** Why the layers go there, in words. */
  reason: string;
}

const placements = new Map<string, WritableLayerPlacement>();

/**
 * Decides, once per directory and process, whether overlay upper and work directories can live
 * under `dir` (an existing directory in the state dir), from its statfs type alone: nothing is
 * mounted on the host to find out. Without a disk limit, a tmpfs of the kernel's default size
 * (half the RAM) then holds the writable layer; with one, the limit's tmpfs does as everywhere.
 */
export function writableLayerPlacement(dir: string): WritableLayerPlacement {
  let p = placements.get(dir);
  if (p) return p;
  const type = statfsSync(dir).type;
  const known = UPPER_FILESYSTEMS[type];
  const filesystem = known ?? OTHER_FILESYSTEMS[type] ?? `0x${type.toString(16)}`;
  p = known
    ? { on: 'stateDir', filesystem, reason: `${dir} is on ${filesystem}, which can hold overlay upper directories` }
    : {
        on: 'tmpfs',
        filesystem,
        reason: `${dir} is on ${filesystem}, which cannot hold an overlay upper directory (as in a container's root); each sandbox's writable layer goes on a tmpfs in its own mount namespace`,
      };
  placements.set(dir, p);
  return p;
}

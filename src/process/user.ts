import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import type { UserSpec } from './spawn-options.js';

/** Numeric identity a program runs as. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
}

/** Largest /etc/passwd or /etc/group read from an image layer. */
export const MAX_ACCOUNT_FILE_BYTES = 1024 * 1024;

/** O_PATH (not in fs.constants): an fd that names an inode without opening it. */
const O_PATH = 0o10000000;

/**
 * Resolves a user spec to ids. Names are looked up in the image's /etc/passwd and /etc/group
 * (`imageLayers`: the read-only lower layers, topmost first) — never the host's, and never the
 * sandbox's writable layer: a program that rewrote `/etc/passwd` (`nobody:x:0:0`) cannot change
 * what a later `user: 'nobody'` means. Users added inside a sandbox are reached by number, or
 * by name in an image made from it with `snapshot()`.
 */
export function resolveUser(spec: UserSpec, imageLayers: readonly string[]): ResolvedUser {
  if (typeof spec === 'number') return { uid: spec, gid: spec, groups: [] };
  if (typeof spec === 'object') return { uid: spec.uid, gid: spec.gid ?? spec.uid, groups: spec.groups ?? [] };
  const passwd = topmost(imageLayers, 'passwd');
  const entry = passwd
    ?.split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === spec);
  const uid = Number(entry?.[2]);
  const gid = Number(entry?.[3]);
  if (!entry || entry.length < 4 || !isId(uid) || !isId(gid))
    throw new SandboxOptionsError('user', `no user ${JSON.stringify(spec)} in the image's /etc/passwd`);
  const groups = (topmost(imageLayers, 'group') ?? '')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && f[3]!.split(',').includes(spec) && isId(Number(f[2])))
    .map((f) => Number(f[2]));
  return { uid, gid, groups };
}

function isId(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xfffffffe;
}

/**
 * `etc/<name>` of the topmost layer that has an `etc` entry, as overlayfs would show it. Nothing
 * is followed: `etc` must be a directory and `<name>` a regular file, checked on O_PATH fds
 * before anything is opened for reading (a FIFO or a device is never opened), and the read
 * stops at {@link MAX_ACCOUNT_FILE_BYTES}. A layer whose `etc` or `<name>` is anything else
 * (a whiteout, a symlink) hides the layers below it: there is no such file.
 */
function topmost(layers: readonly string[], name: string): string | undefined {
  for (const layer of layers) {
    const dir = openPath(join(layer, 'etc'), constants.O_DIRECTORY);
    if (dir === 'absent') continue;
    if (dir === 'other') return undefined;
    try {
      const file = openPath(`/proc/self/fd/${dir}/${name}`, 0);
      if (file === 'absent') continue;
      if (file === 'other') return undefined;
      try {
        return readRegular(file, `${layer}/etc/${name}`);
      } finally {
        closeSync(file);
      }
    } finally {
      closeSync(dir);
    }
  }
  return undefined;
}

function openPath(path: string, extra: number): number | 'absent' | 'other' {
  try {
    return openSync(path, O_PATH | constants.O_NOFOLLOW | extra);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'other';
  }
}

function readRegular(pathFd: number, what: string): string | undefined {
  const st = fstatSync(pathFd);
  if (!st.isFile()) return undefined;
  if (st.size > MAX_ACCOUNT_FILE_BYTES)
    throw new SandboxOptionsError('user', `${what} is larger than ${MAX_ACCOUNT_FILE_BYTES} bytes`);
  // Reopen that very inode for reading: no second lookup by name.
  const fd = openSync(`/proc/self/fd/${pathFd}`, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const buf = Buffer.alloc(Math.min(st.size + 1, MAX_ACCOUNT_FILE_BYTES));
    let len = 0;
    for (let n; len < buf.length && (n = readSync(fd, buf, len, buf.length - len, null)) > 0;) len += n;
    return buf.subarray(0, len).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

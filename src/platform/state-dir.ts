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
  0x9fa0: 'procfs', 0x62656572: 'sysfs', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2', 0x64626720: 'debugfs',
  0x73636673: 'securityfs', 0x1cd1: 'devpts', 0x74726163: 'tracefs', 0xcafe4a11: 'bpf', 0x62656570: 'configfs',
  0x6165676c: 'pstore', 0x958458f6: 'hugetlbfs', 0x42494e4d: 'binfmt_misc', 0x6e736673: 'nsfs',
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
      if (!statSync(existing).isDirectory()) throw bad(existing === dir ? 'is not a directory' : `${existing} is not a directory`);
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
  checkedStateDirs.add(dir);
}

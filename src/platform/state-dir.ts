import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessSync, constants, mkdirSync } from 'node:fs';

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

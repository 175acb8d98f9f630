import { chmodSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { rm, chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

// Overlayfs leaves `work/work` with mode 000, and sandboxed programs may chmod their own
// directories to 000; as a non-root user those cannot be listed until made accessible again.

/** Removes a directory tree, making unreadable directories accessible first (synchronous). */
export function removeTreeSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    if (!isAccessError(err)) throw err;
    openUpSync(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes a directory tree, making unreadable directories accessible first. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    if (!isAccessError(err)) throw err;
    await openUp(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

function isAccessError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' || code === 'ENOTEMPTY';
}

function openUpSync(dir: string): void {
  try {
    if (!lstatSync(dir).isDirectory()) return;
    chmodSync(dir, 0o700);
    for (const name of readdirSync(dir)) openUpSync(join(dir, name));
  } catch {
    // not ours to open: rm reports it
  }
}

async function openUp(dir: string): Promise<void> {
  try {
    if (!(await lstat(dir)).isDirectory()) return;
    await chmod(dir, 0o700);
    await Promise.all((await readdir(dir)).map((name) => openUp(join(dir, name))));
  } catch {
    // not ours to open: rm reports it
  }
}

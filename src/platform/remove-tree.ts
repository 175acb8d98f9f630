import { chmodSync, lstatSync, readdirSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import { rm, chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

// Overlayfs leaves `work/work` with mode 000, and sandboxed programs may chmod their own
// directories to 000; as a non-root user those cannot be listed until made accessible again.

/**
 * Removes a directory tree, making unreadable directories accessible first (synchronous).
 * A tree deeper than Node's recursive rmSync can walk (a sandboxed program may make one
 * thousands of levels deep) is removed by a walk with a stack of its own.
 */
export function removeTreeSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    if (err instanceof RangeError) return removeDeepTreeSync(dir);
    if (!isAccessError(err)) throw err;
    openUpSync(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Post-order removal without recursion: the depth of the tree costs heap, not call stack. */
function removeDeepTreeSync(root: string): void {
  const stack: Array<{ path: string; listed: boolean }> = [{ path: root, listed: false }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    let isDir: boolean;
    try {
      isDir = lstatSync(top.path).isDirectory();
    } catch {
      stack.pop(); // already gone
      continue;
    }
    if (!isDir) {
      unlinkSync(top.path);
      stack.pop();
    } else if (!top.listed) {
      top.listed = true;
      try {
        chmodSync(top.path, 0o700);
      } catch {
        // not ours to open: readdir reports it
      }
      for (const name of readdirSync(top.path)) stack.push({ path: join(top.path, name), listed: false });
    } else {
      rmdirSync(top.path);
      stack.pop();
    }
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
  const pending = [dir];
  while (pending.length > 0) {
    const path = pending.pop()!;
    try {
      if (!lstatSync(path).isDirectory()) continue;
      chmodSync(path, 0o700);
      for (const name of readdirSync(path)) pending.push(join(path, name));
    } catch {
      // not ours to open: rm reports it
    }
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

import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** Directories of one sandbox's root: the merged mount point and its private writable layer. */
export interface OverlayDirs {
  upper: string;
  work: string;
  merged: string;
  /**
   * With a disk quota, or a state dir that cannot hold an upper directory: the mount point of
   * the sandbox's private tmpfs, which holds `upper` and `work` (the helper mounts it and makes
   * them inside the sandbox's mount namespace only, so on the host this directory stays empty).
   */
  quota?: string;
}

/**
 * An overlay of read-only lower layers (top first) and one private writable layer. Node only
 * prepares directories and the option string; the helper mounts it inside the sandbox's own
 * mount namespace, so it never appears on the host.
 */
export class Overlay {
  constructor(
    readonly lowerDirs: string[],
    readonly dirs: OverlayDirs,
    readonly quotaBytes?: number,
    readonly upperOnTmpfs = quotaBytes !== undefined
  ) {
    for (const dir of [...lowerDirs, dirs.upper, dirs.work, dirs.merged]) assertOverlayPath('overlay', dir);
  }

  /**
   * Lays out `upper`, `work` and `root` under `base`; with `quotaBytes` (or `upperOnTmpfs`,
   * where `base` cannot hold an upper directory), `upper` and `work` go inside `rw/`, where the
   * helper mounts a tmpfs of that size (see {@link tmpfsUpper}).
   */
  static inDirectory(lowerDirs: string[], base: string, quotaBytes?: number, upperOnTmpfs = false): Overlay {
    const onTmpfs = upperOnTmpfs || quotaBytes !== undefined;
    const quota = onTmpfs ? join(base, 'rw') : undefined;
    const dirs: OverlayDirs = quota
      ? { upper: join(quota, 'upper'), work: join(quota, 'work'), merged: join(base, 'root'), quota }
      : { upper: join(base, 'upper'), work: join(base, 'work'), merged: join(base, 'root') };
    const made = quota ? [dirs.merged, quota] : [dirs.upper, dirs.work, dirs.merged];
    for (const dir of made) mkdirSync(dir, { recursive: true, mode: 0o755 });
    return new Overlay(lowerDirs, dirs, quotaBytes, onTmpfs);
  }

  /**
   * The create request's `rootfs.tmpfsUpper`, or undefined when the writable layer is on disk.
   * Without a quota the tmpfs has the kernel's default size and inode count (half the RAM).
   */
  tmpfsUpper(): { target: string; options: string } | undefined {
    if (!this.dirs.quota) return undefined;
    if (this.quotaBytes === undefined) return { target: this.dirs.quota, options: 'mode=0755' };
    const inodes = Math.max(1024, Math.floor(this.quotaBytes / 4096));
    return { target: this.dirs.quota, options: `size=${this.quotaBytes},nr_inodes=${inodes},mode=0755` };
  }

  /** The mount option string; `userxattr` is needed when mounting inside a user namespace. */
  mountOptions(inUserNamespace: boolean): string {
    const opts = [`lowerdir=${this.lowerDirs.join(':')}`, `upperdir=${this.dirs.upper}`, `workdir=${this.dirs.work}`];
    if (inUserNamespace) opts.push('userxattr');
    return opts.join(',');
  }
}

/**
 * Removes `base` if its overlay directories hold nothing but overlayfs's own empty `work/work`
 * (and `work/index`); returns false, having removed nothing, when anything was written. With a
 * disk quota the writable layer lived in the sandbox's tmpfs: only empty directories remain.
 */
export function removeEmptyOverlaySync(base: string, dirs: OverlayDirs): boolean {
  try {
    if (dirs.quota) {
      // the writable layer went with the sandbox's tmpfs
      for (const dir of [dirs.quota, dirs.merged, base]) rmdirSync(dir);
      return true;
    }
    if (readdirSync(dirs.upper).length > 0) return false;
    const work = readdirSync(dirs.work);
    if (work.some((name) => name !== 'work' && name !== 'index')) return false;
    for (const name of work) rmdirSync(join(dirs.work, name));
    for (const dir of [dirs.upper, dirs.work, dirs.merged, base]) rmdirSync(dir);
    return true;
  } catch {
    return false; // not empty after all (ENOTEMPTY), or not ours to list: the full removal decides
  }
}

/** Options of a read-only overlay showing `dir` alone (overlayfs needs two lower layers without an upper). */
export function readOnlyOverlayOptions(dir: string, emptyDir: string, inUserNamespace: boolean): string {
  assertOverlayPath('overlay', dir);
  return `lowerdir=${dir}:${emptyDir}${inUserNamespace ? ',userxattr' : ''}`;
}

/** Overlay option strings cannot carry ',' or ':' in a path (nor newlines); reject them early. */
export function assertOverlayPath(field: string, path: string): void {
  if (/[,:\n\\]/.test(path))
    throw new SandboxOptionsError(
      field,
      `path ${JSON.stringify(path)} contains ',', ':', '\\' or a newline, which overlayfs cannot take`
    );
}

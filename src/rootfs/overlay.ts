import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertOverlayPath } from './image.js';

/** Directories of one sandbox's root: the merged mount point and its private writable layer. */
export interface OverlayDirs {
  upper: string;
  work: string;
  merged: string;
}

/**
 * An overlay of read-only lower layers (top first) and one private writable layer. Node only
 * prepares directories and the option string; the helper mounts it inside the sandbox's own
 * mount namespace, so it never appears on the host.
 */
export class Overlay {
  constructor(readonly lowerDirs: string[], readonly dirs: OverlayDirs) {
    for (const dir of [...lowerDirs, dirs.upper, dirs.work, dirs.merged]) assertOverlayPath('overlay', dir);
  }

  /** Lays out `upper`, `work` and `root` under `base`. */
  static inDirectory(lowerDirs: string[], base: string): Overlay {
    const dirs = { upper: join(base, 'upper'), work: join(base, 'work'), merged: join(base, 'root') };
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true, mode: 0o755 });
    return new Overlay(lowerDirs, dirs);
  }

  /** The mount option string; `userxattr` is needed when mounting inside a user namespace. */
  mountOptions(inUserNamespace: boolean): string {
    const opts = [
      `lowerdir=${this.lowerDirs.join(':')}`,
      `upperdir=${this.dirs.upper}`,
      `workdir=${this.dirs.work}`,
    ];
    if (inUserNamespace) opts.push('userxattr');
    return opts.join(',');
  }
}

/**
 * Removes `base` if its overlay directories hold nothing but overlayfs's own empty `work/work`
 * (and `work/index`); returns false, having removed nothing, when anything was written.
 */
export function removeEmptyOverlaySync(base: string, dirs: OverlayDirs): boolean {
  try {
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

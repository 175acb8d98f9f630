import { mkdirSync } from 'node:fs';
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

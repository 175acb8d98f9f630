import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** What an image contributes to a sandbox's root: overlay lower layers (top first) and read-only binds. */
export interface ImageLayers {
  lowerDirs: string[];
  binds: Array<{ source: string; target: string; readonly: boolean }>;
}

/** Resolves an image into layers; `hostLayer` gives the session's host layer on demand. */
export interface ImageContext {
  hostLayer(): { dir: string; binds: string[] };
}

type ImageSource = { kind: 'host' } | { kind: 'directory'; path: string };

/**
 * The read-only base of a sandbox's root filesystem. Every sandbox stacks a private writable
 * layer on top, so nothing a program writes reaches the image.
 *
 * @example
 * new Sandbox({ image: Image.fromDirectory('./rootfs') });
 */
export class Image {
  private constructor(private readonly source: ImageSource) {}

  /**
   * The host's own system, read-only: `/usr`, `/bin`, `/sbin`, `/lib*` and a filtered copy of
   * `/etc` (no shadow files or private keys). `/root`, `/home`, `/var` and `/run` are empty.
   * This is the default image.
   */
  static host(): Image {
    return new Image({ kind: 'host' });
  }

  /**
   * A directory holding a root filesystem (as made by debootstrap, or an unpacked image).
   * @throws {SandboxOptionsError} when the path is not a directory or cannot be used in an overlay.
   */
  static fromDirectory(path: string): Image {
    const abs = resolve(path);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new SandboxOptionsError('image', `${abs} is not a directory`);
    assertOverlayPath('image', abs);
    return new Image({ kind: 'directory', path: abs });
  }

  /** `'host'` or `'directory'`. */
  get kind(): ImageSource['kind'] {
    return this.source.kind;
  }

  /** A short description for logs and the CLI. */
  toString(): string {
    return this.source.kind === 'host' ? 'host' : `dir:${this.source.path}`;
  }

  /** @internal */
  layers(ctx: ImageContext): ImageLayers {
    if (this.source.kind === 'directory') return { lowerDirs: [this.source.path], binds: [] };
    const host = ctx.hostLayer();
    return {
      lowerDirs: [host.dir],
      binds: host.binds.map((dir) => ({ source: dir, target: dir, readonly: true })),
    };
  }
}

/** Overlay option strings cannot carry ',' or ':' in a path (nor newlines); reject them early. */
export function assertOverlayPath(field: string, path: string): void {
  if (/[,:\n\\]/.test(path)) throw new SandboxOptionsError(field, `path ${JSON.stringify(path)} contains ',', ':', '\\' or a newline, which overlayfs cannot take`);
}

import type { Readable } from 'node:stream';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import type { FsEntry, FsStat } from './fs-channel.js';
import { FilesSession, type FilesContext } from './files-session.js';
import { copyIn, type CopyInOptions, type CopyInResult } from './copy-in.js';
import { copyOut, type CopyOutOptions } from './copy-out.js';

export type { FsEntry, FsStat } from './fs-channel.js';

/** Largest file `read` returns unless told otherwise. */
export const DEFAULT_READ_MAX_BYTES = 64 * 1024 * 1024;

function checkPath(path: unknown, field = 'path'): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0')) {
    throw new SandboxOptionsError(field, `expected an absolute path inside the sandbox, got ${JSON.stringify(path)}`);
  }
  return path;
}

/**
 * `sandbox.files`: the sandbox's filesystem as its programs see it, reached through the native
 * helper with `openat2(RESOLVE_IN_ROOT)` against the sandbox's own root — never through host
 * paths — so a symlink or `..` planted inside resolves inside. Paths are absolute paths inside
 * the sandbox. Each call starts the sandbox if needed.
 *
 * @example
 * await sandbox.files.write('/src/main.c', code);
 * await sandbox.run(['gcc', '-o', '/src/a.out', '/src/main.c']);
 * console.log((await sandbox.files.list('/src')).map((e) => e.name));
 * @throws {SandboxFilesError} from every method when the path is missing or of the wrong kind (`errnoCode`).
 */
export class SandboxFiles {
  private readonly session: FilesSession;

  /** @internal */
  constructor(ctx: FilesContext) {
    this.session = new FilesSession(ctx);
  }

  /**
   * Writes a file, creating missing parent directories (mode 0755); replaces its content if it
   * exists. A symlink at `path` is followed inside the sandbox.
   * @example await sandbox.files.write('/etc/app.conf', 'debug=1\n', { mode: 0o600 });
   * @throws {SandboxFilesError} e.g. `EISDIR`; `EPERM` when the path leads to a non-regular file or into /proc or /sys.
   */
  async write(path: string, data: string | Uint8Array, options: { mode?: number; append?: boolean } = {}): Promise<void> {
    await this.session.call('write', { op: 'write', path: checkPath(path), mode: options.mode ?? 0o644, parents: true, append: options.append ?? false }, Buffer.from(data));
  }

  /**
   * Reads a regular file.
   * @example const out = (await sandbox.files.read('/out.txt')).toString();
   * @throws {SandboxFilesError} `ENOENT`, `EISDIR`, `EFBIG` (over `maxBytes`), `EPERM` (not a regular file).
   */
  read(path: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    return this.session.read('read', checkPath(path), options.maxBytes ?? DEFAULT_READ_MAX_BYTES);
  }

  /** Reads a file as UTF-8 text. @throws {SandboxFilesError} as `read`. */
  async readText(path: string, options: { maxBytes?: number } = {}): Promise<string> {
    return (await this.read(path, options)).toString('utf8');
  }

  /**
   * The entries of a directory (without `.` and `..`), each with its lstat and symlink target.
   * @example for (const e of await sandbox.files.list('/src')) console.log(e.name, e.type, e.size);
   * @throws {SandboxFilesError} `ENOENT`, `ENOTDIR`.
   */
  async list(path: string): Promise<FsEntry[]> {
    return (await this.session.call('list', { op: 'list', path: checkPath(path) })).entries as FsEntry[];
  }

  /**
   * Metadata of a path; a final symlink is described itself unless `follow`.
   * @example const st = await sandbox.files.stat('/src/a.out'); st.mode & 0o111;
   * @throws {SandboxFilesError} `ENOENT`.
   */
  async stat(path: string, options: { follow?: boolean } = {}): Promise<FsStat> {
    const { ok: _ok, ...st } = (await this.session.call('stat', { op: 'stat', path: checkPath(path), follow: options.follow ?? false })) as unknown as FsStat & { ok: true };
    return st;
  }

  /** True when the path exists (a dangling symlink counts). @throws {SandboxFilesError} for errors other than ENOENT. */
  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (err) {
      if ((err as { errnoCode?: string }).errnoCode === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Creates a directory, and its missing parents unless `recursive: false`.
   * @example await sandbox.files.mkdir('/work/out');
   * @throws {SandboxFilesError} `EEXIST` (non-recursive), `ENOTDIR`.
   */
  async mkdir(path: string, options: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    await this.session.call('mkdir', { op: 'mkdir', path: checkPath(path), mode: options.mode ?? 0o755, parents: options.recursive ?? true });
  }

  /**
   * Removes a file, symlink or empty directory; with `recursive`, a whole tree (symlinks are
   * removed, never followed).
   * @example await sandbox.files.remove('/work', { recursive: true });
   * @throws {SandboxFilesError} `ENOENT`, `ENOTEMPTY`.
   */
  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.session.call('remove', { op: 'remove', path: checkPath(path), recursive: options.recursive ?? false });
  }

  /** Creates a symlink at `path` pointing to `target` (stored as given). @throws {SandboxFilesError} `EEXIST`. */
  async symlink(target: string, path: string): Promise<void> {
    await this.session.call('symlink', { op: 'symlink', path: checkPath(path), target, parents: true });
  }

  /** The target of a symlink. @throws {SandboxFilesError} `EINVAL` when not a symlink. */
  async readlink(path: string): Promise<string> {
    return (await this.session.call('readlink', { op: 'readlink', path: checkPath(path) })).target as string;
  }

  /**
   * Unpacks a tar stream (optionally gzipped), or copies a host directory, into `dest`.
   * Entries with absolute paths or `..`, device nodes, and hard links to anything outside the
   * archive are refused with a `SandboxFilesError`.
   * @example await sandbox.files.copyIn(createReadStream('src.tar.gz'), '/src');
   * @throws {SandboxFilesError} for a refused entry or a failed write; {@link SandboxImageError} for a corrupt tar.
   */
  copyIn(source: Readable | AsyncIterable<Buffer> | string, dest: string, options: CopyInOptions = {}): Promise<CopyInResult> {
    return copyIn(this.session, source, checkPath(dest, 'dest'), options);
  }

  /**
   * A tar stream of `path` (a file or a whole tree); symlinks are archived as symlinks, never
   * followed. The stream fails with a `SandboxFilesError` past `maxBytes` or `maxFiles`.
   * @example await pipeline(sandbox.files.copyOut('/out'), createWriteStream('out.tar'));
   */
  copyOut(path: string, options: CopyOutOptions = {}): Readable {
    return copyOut(this.session, checkPath(path), options);
  }

  /** @internal the sandbox is going: close the channel. */
  closeAll(): void {
    this.session.close();
  }
}

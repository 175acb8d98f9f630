import type { Readable } from 'node:stream';
import { SandboxFilesError } from '../errors/sandbox-error.js';
import type { FsEntry, FsStat } from '../helper/fs-channel.js';
import { FilesSession, type CallPolicy, type FilesContext } from './files-session.js';
import { copyIn, type CopyInOptions, type CopyInResult } from './copy-in.js';
import { copyOut, type CopyOutOptions } from './copy-out.js';
import {
  checkBool,
  checkData,
  checkCount,
  checkMode,
  checkOptions,
  checkPath,
  checkSymlinkTarget,
  policyOf,
  type FilesCallOptions,
} from './files-options.js';

export type { FsEntry, FsStat } from '../helper/fs-channel.js';
export type { FilesCallOptions } from './files-options.js';

/** Largest file `read` returns unless told otherwise. */
export const DEFAULT_READ_MAX_BYTES = 64 * 1024 * 1024;
/** Most entries `list` returns unless told otherwise. */
export const DEFAULT_LIST_MAX_ENTRIES = 100_000;

const CALL_KEYS = ['user', 'followSymlinks', 'crossMounts', 'signal'] as const;

/**
 * `sandbox.files`: the sandbox's filesystem as its programs see it, reached through the native
 * helper with `openat2(RESOLVE_IN_ROOT)` against the sandbox's own root — never through host
 * paths. Paths are absolute paths inside the sandbox. Each call starts the sandbox if needed.
 *
 * Every call acts as a user of the sandbox (`user`, default 0: the sandbox's root, the
 * default user of its programs), with that user's permissions as seen inside — never the
 * host's. By default no symlink is followed anywhere in a path (a planted link fails with
 * `ELOOP`); `followSymlinks: true` resolves them inside the sandbox, and then mount points are
 * crossed only with `crossMounts: true`. Long calls take an AbortSignal (`signal`).
 *
 * @example
 * await sandbox.files.write('/src/main.c', code);
 * await sandbox.run(['gcc', '-o', '/src/a.out', '/src/main.c']);
 * const out = await sandbox.files.read('/src/out.txt', { user: 'nobody' });
 * @throws {SandboxFilesError} from every method when the path is missing or of the wrong kind (`errnoCode`).
 * @throws {SandboxOptionsError} for a bad argument, before anything is done.
 * @throws {SandboxHelperError} when the helper died or broke the files channel.
 * @throws {SandboxAbortedError} when `signal` aborted the call.
 */
export class SandboxFiles {
  private readonly session: FilesSession;

  /** @internal */
  constructor(ctx: FilesContext) {
    this.session = new FilesSession(ctx);
  }

  /**
   * Writes a file, creating missing parent directories (mode 0755); replaces its content if it
   * exists. The new file belongs to `user`.
   * @example await sandbox.files.write('/etc/app.conf', 'debug=1\n', { mode: 0o600 });
   * @throws {SandboxFilesError} e.g. `EISDIR`, `EACCES`, `ELOOP` (a symlink on the path); `EPERM` when the path leads to a non-regular file or into /proc or /sys.
   */
  async write(
    path: string,
    data: string | Uint8Array,
    options: FilesCallOptions & { mode?: number; append?: boolean } = {}
  ): Promise<void> {
    const o = checkOptions(options, [...CALL_KEYS, 'mode', 'append']);
    const req = {
      op: 'write',
      path: checkPath(path),
      mode: checkMode(o.mode, 'mode', 0o644),
      parents: true,
      append: checkBool(o.append, 'append', false),
    } as const;
    const bytes = checkData(data);
    await this.session.call('write', policyOf(o), req, bytes);
  }

  /**
   * Reads a regular file.
   * @example const out = (await sandbox.files.read('/out.txt')).toString();
   * @throws {SandboxFilesError} `ENOENT`, `EISDIR`, `EFBIG` (over `maxBytes`), `EPERM` (not a regular file), `EACCES`.
   */
  read(path: string, options: FilesCallOptions & { maxBytes?: number } = {}): Promise<Buffer> {
    try {
      const o = checkOptions(options, [...CALL_KEYS, 'maxBytes']);
      return this.session.read(
        'read',
        policyOf(o),
        checkPath(path),
        checkCount(o.maxBytes, 'maxBytes', DEFAULT_READ_MAX_BYTES)
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Reads a file as UTF-8 text. @throws {SandboxFilesError} as `read`. */
  async readText(path: string, options: FilesCallOptions & { maxBytes?: number } = {}): Promise<string> {
    return (await this.read(path, options)).toString('utf8');
  }

  /**
   * The entries of a directory (without `.` and `..`), each with its lstat and symlink target.
   * The helper sends them in bounded batches; more than `maxEntries` is an error.
   * @example for (const e of await sandbox.files.list('/src')) console.log(e.name, e.type, e.size);
   * @throws {SandboxFilesError} `ENOENT`, `ENOTDIR`, `E2BIG` (more than `maxEntries`, default 100000).
   */
  async list(path: string, options: FilesCallOptions & { maxEntries?: number } = {}): Promise<FsEntry[]> {
    const o = checkOptions(options, [...CALL_KEYS, 'maxEntries']);
    const max = checkCount(o.maxEntries, 'maxEntries', DEFAULT_LIST_MAX_ENTRIES);
    const p = checkPath(path);
    const { entries, truncated } = await this.session.list('list', policyOf(o), p, max);
    if (truncated) throw new SandboxFilesError('list', p, 'E2BIG', `more than ${max} entries (maxEntries)`);
    return entries;
  }

  /**
   * Metadata of a path; a final symlink is described itself unless `follow` (which implies
   * `followSymlinks`).
   * @example const st = await sandbox.files.stat('/src/a.out'); st.mode & 0o111;
   * @throws {SandboxFilesError} `ENOENT`.
   */
  async stat(path: string, options: FilesCallOptions & { follow?: boolean } = {}): Promise<FsStat> {
    const o = checkOptions(options, [...CALL_KEYS, 'follow']);
    const follow = checkBool(o.follow, 'follow', false);
    const policy = policyOf(follow ? { ...o, followSymlinks: o.followSymlinks ?? true } : o);
    const { ok: _ok, ...st } = await this.session.call('stat', policy, { op: 'stat', path: checkPath(path), follow });
    return st;
  }

  /** True when the path exists (a dangling symlink counts). @throws {SandboxFilesError} for errors other than ENOENT. */
  async exists(path: string, options: FilesCallOptions = {}): Promise<boolean> {
    try {
      await this.stat(path, options);
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
  async mkdir(path: string, options: FilesCallOptions & { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const o = checkOptions(options, [...CALL_KEYS, 'mode', 'recursive']);
    await this.session.call('mkdir', policyOf(o), {
      op: 'mkdir',
      path: checkPath(path),
      mode: checkMode(o.mode, 'mode', 0o755),
      parents: checkBool(o.recursive, 'recursive', true),
    });
  }

  /**
   * Removes a file, symlink or empty directory; with `recursive`, a whole tree (symlinks are
   * removed, never followed).
   * @example await sandbox.files.remove('/work', { recursive: true });
   * @throws {SandboxFilesError} `ENOENT`, `ENOTEMPTY`.
   */
  async remove(path: string, options: FilesCallOptions & { recursive?: boolean } = {}): Promise<void> {
    const o = checkOptions(options, [...CALL_KEYS, 'recursive']);
    await this.session.call('remove', policyOf(o), {
      op: 'remove',
      path: checkPath(path),
      recursive: checkBool(o.recursive, 'recursive', false),
    });
  }

  /** Creates a symlink at `path` pointing to `target` (stored as given). @throws {SandboxFilesError} `EEXIST`. */
  async symlink(target: string, path: string, options: FilesCallOptions = {}): Promise<void> {
    const o = checkOptions(options, CALL_KEYS);
    await this.session.call('symlink', policyOf(o), {
      op: 'symlink',
      path: checkPath(path),
      target: checkSymlinkTarget(target),
      parents: true,
    });
  }

  /** The target of a symlink. @throws {SandboxFilesError} `EINVAL` when not a symlink. */
  async readlink(path: string, options: FilesCallOptions = {}): Promise<string> {
    const o = checkOptions(options, CALL_KEYS);
    return (await this.session.call('readlink', policyOf(o), { op: 'readlink', path: checkPath(path) })).target;
  }

  /**
   * Unpacks a tar stream (optionally gzipped), or copies a host directory, into `dest`.
   * Every entry resolves beneath `dest` with no symlink followed (neither one the archive made
   * earlier nor one planted by the sandbox) and no mount point crossed; entries with absolute
   * paths or `..`, device nodes, and hard links to anything not extracted earlier are refused;
   * set-id bits are dropped unless `preserveSetId`. On any failure (or abort) what this call
   * created is removed again.
   * @example await sandbox.files.copyIn(createReadStream('src.tar.gz'), '/src');
   * @throws {SandboxFilesError} for a refused entry or a failed write; {@link SandboxImageError} for a corrupt tar.
   */
  async copyIn(
    source: Readable | AsyncIterable<Buffer> | string,
    dest: string,
    options: CopyInOptions = {}
  ): Promise<CopyInResult> {
    const o = checkOptions(options, [...CALL_KEYS, 'preserveOwners', 'preserveSetId', 'maxBytes']);
    return copyIn(this.session, policyOf(o), source, checkPath(dest, 'dest'), o);
  }

  /**
   * A tar stream of `path` (a file or a whole tree); symlinks are archived as symlinks, never
   * followed. The stream fails with a `SandboxFilesError` past `maxBytes` or `maxFiles`, and
   * with a `SandboxAbortedError` when `signal` aborts.
   * @example await pipeline(sandbox.files.copyOut('/out'), createWriteStream('out.tar'));
   */
  copyOut(path: string, options: CopyOutOptions = {}): Readable {
    const o = checkOptions(options, [...CALL_KEYS, 'maxBytes', 'maxFiles']);
    return copyOut(this.session, policyOf(o), checkPath(path), o);
  }

  /** @internal the sandbox is going: close the channel. */
  closeAll(): void {
    this.session.close();
  }
}

export type { CallPolicy };

import { createReadStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError, SandboxFilesError, SandboxOptionsError } from '../errors/sandbox-error.js';
import { decompressed } from '../archive/compression.js';
import { readTar, type TarEntry } from '../archive/tar-reader.js';
import { abortedError, type CallPolicy, type FilesSession } from './files-session.js';
import { checkBool, checkCount } from './files-options.js';
import type { FsReplyTo, FsRequest } from '../helper/fs-channel.js';

/** Options of `files.copyIn`. */
export interface CopyInOptions {
  /** Keep the archive's owners (needs the sandbox's root; ids as seen inside). @defaultValue true as root acting as user 0, else false */
  preserveOwners?: boolean;
  /** Keep setuid, setgid (files and directories). @defaultValue false: those bits are dropped */
  preserveSetId?: boolean;
  /** Refuse archives with more file bytes than this. @defaultValue 4 GiB */
  maxBytes?: number;
  /** Refuse archives with more entries than this. @defaultValue 100000 */
  maxFiles?: number;
  /** The sandbox user that extracts (owner of what is made), as for every files call. @defaultValue 0 */
  user?: CallPolicy['user'];
  /** Where `dest` itself may lead; entries below it never follow symlinks nor cross mounts. */
  followSymlinks?: boolean;
  /** Whether `dest` itself may lead across mount points. @defaultValue `!followSymlinks` */
  crossMounts?: boolean;
  /** Aborts the copy: it rejects with `SandboxAbortedError` and what it made is removed. */
  signal?: AbortSignal;
}

/** What `copyIn` wrote. */
export interface CopyInResult {
  /** Regular files written. */
  files: number;
  /** Directories made. */
  dirs: number;
  /** Symlinks made. */
  symlinks: number;
  /** Bytes of file data written. */
  bytes: number;
}

/** File data goes to the helper in writes of at most this many bytes (bounded host memory). */
const WRITE_CHUNK_BYTES = 1024 * 1024;
const NAME_MAX = 255;
const PATH_MAX = 4095;

type Call = <R extends FsRequest>(req: R, data?: Buffer) => Promise<FsReplyTo<R>>;

const refuse = (dest: string, entry: string, why: string) =>
  new SandboxFilesError('copyIn', dest, null, `entry ${JSON.stringify(entry.slice(0, 200))} refused: ${why}`);

/** A tar entry's name as a path relative to dest ('' for dest itself); absolute paths, '..' and over-long names are refused. */
function entryPath(dest: string, name: string): string {
  if (name.startsWith('/')) throw refuse(dest, name, 'absolute path');
  if (name.includes('\0')) throw refuse(dest, name, 'NUL in the name');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw refuse(dest, name, "'..' would leave the destination");
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX))
    throw refuse(dest, name, `a name longer than ${NAME_MAX} bytes`);
  const rel = parts.join('/');
  if (Buffer.byteLength(dest) + 1 + Buffer.byteLength(rel) > PATH_MAX)
    throw refuse(dest, name, `path longer than ${PATH_MAX} bytes`);
  return rel;
}

/** A host directory as tar-like entries (the directory is the caller's, trusted). */
async function* dirEntries(root: string, rel = ''): AsyncGenerator<TarEntry> {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const abs = join(root, path);
    const st = lstatSync(abs);
    const base = {
      path,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: {},
      size: 0,
      data: (async function* () {})(),
    };
    if (st.isDirectory()) {
      yield { ...base, type: 'dir' };
      yield* dirEntries(root, path);
    } else if (st.isSymbolicLink()) yield { ...base, type: 'symlink', linkname: readlinkSync(abs) };
    else if (st.isFile())
      yield { ...base, type: 'file', size: st.size, data: createReadStream(abs) as AsyncIterable<Buffer> };
  }
}

function sourceEntries(source: unknown, dest: string): AsyncIterable<TarEntry> {
  if (typeof source === 'string') {
    let st;
    try {
      st = lstatSync(source);
    } catch (err) {
      throw new SandboxFilesError(
        'copyIn',
        dest,
        (err as NodeJS.ErrnoException).code ?? null,
        `source ${JSON.stringify(source)}: ${(err as Error).message}`
      );
    }
    if (!st.isDirectory())
      throw new SandboxFilesError(
        'copyIn',
        dest,
        'ENOTDIR',
        `source ${JSON.stringify(source)} is not a directory (pass a stream for an archive)`
      );
    return dirEntries(source);
  }
  if (
    typeof source !== 'object' ||
    source === null ||
    typeof (source as AsyncIterable<Buffer>)[Symbol.asyncIterator] !== 'function'
  ) {
    throw new SandboxOptionsError(
      'source',
      'expected a host directory path, a Readable or an AsyncIterable of Buffers'
    );
  }
  return readTar(decompressed(source as AsyncIterable<Buffer>));
}

/** The source failed (not the sandbox): a typed error that keeps the original as its cause. */
function sourceError(dest: string, err: unknown): SandboxError {
  if (err instanceof SandboxError) return err;
  const e = new SandboxFilesError(
    'copyIn',
    dest,
    (err as NodeJS.ErrnoException)?.code ?? null,
    `reading the source failed: ${(err as Error)?.message ?? String(err)}`
  );
  (e as { cause?: unknown }).cause = err;
  return e;
}

/** Resolves with p, or rejects as soon as signal aborts (p is left to settle on its own). */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortedError('copyIn', signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError('copyIn', signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      }
    );
  });
}

/**
 * Writes a tar stream or a host directory into the sandbox at dest through the files channel.
 * `dest` resolves as the call's policy says; every entry is then resolved by the helper beneath
 * dest (`beneath`) with no symlink and no mount crossing, as the call's user. Directory modes
 * and owners are applied last (so a read-only directory does not stop its own entries), and a
 * path that a later entry replaces drops the earlier entry's pending metadata. @internal
 */
export async function copyIn(
  session: FilesSession,
  policy: CallPolicy,
  source: unknown,
  dest: string,
  options: CopyInOptions
): Promise<CopyInResult> {
  const owners = checkBool(options.preserveOwners, 'preserveOwners', process.getuid?.() === 0 && policy.user === 0);
  const setIdMask = checkBool(options.preserveSetId, 'preserveSetId', false) ? 0o7777 : 0o1777;
  const maxBytes = checkCount(options.maxBytes, 'maxBytes', 4 * 1024 ** 3);
  const maxFiles = checkCount(options.maxFiles, 'maxFiles', 100_000);
  const signal = policy.signal;
  const entries = sourceEntries(source, dest);
  const atDest: Call = (req, data) => session.call('copyIn', policy, req, data);
  const beneath: Call = (req, data) => session.call('copyIn', policy, { ...req, beneath: dest }, data);

  // What exists at dest now, so a failure removes exactly what this call added.
  const existed = await atDest({ op: 'stat', path: dest }).then(
    () => true,
    (err: unknown) => {
      if ((err as SandboxFilesError).errnoCode === 'ENOENT') return false;
      throw err;
    }
  );
  const before = existed ? await topNames(session, policy, dest) : undefined;
  const result: CopyInResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const it = entries[Symbol.asyncIterator]();
  try {
    if (!existed) await atDest({ op: 'mkdir', path: dest, mode: 0o755, parents: true });
    await extract(it, { dest, beneath, owners, setIdMask, maxBytes, maxFiles, signal, result });
    return result;
  } catch (err) {
    it.return?.(undefined).catch(() => {});
    if (typeof (source as { destroy?: unknown })?.destroy === 'function' && signal?.aborted)
      (source as { destroy(): void }).destroy();
    await cleanUp(session, { ...policy, signal: undefined }, dest, before).catch(() => {});
    throw err;
  }
}

const MAX_TOP_NAMES = 1_000_000;

/** The names directly in dest, or 'unknown' when there are too many to remember. */
async function topNames(session: FilesSession, policy: CallPolicy, dest: string): Promise<Set<string> | 'unknown'> {
  const { entries, truncated } = await session.list('copyIn', policy, dest, MAX_TOP_NAMES);
  return truncated ? 'unknown' : new Set(entries.map((e) => (e as { name: string }).name));
}

/** Removes what a failed copyIn added: dest itself if it made it, else the new top-level names. */
async function cleanUp(
  session: FilesSession,
  policy: CallPolicy,
  dest: string,
  before: Set<string> | 'unknown' | undefined
): Promise<void> {
  if (!before) {
    await session.call('copyIn', policy, { op: 'remove', path: dest, recursive: true });
    return;
  }
  if (before === 'unknown') return;
  const now = (await session.list('copyIn', policy, dest, MAX_TOP_NAMES)).entries;
  for (const { name } of now) {
    if (!before.has(name))
      await session
        .call('copyIn', policy, { op: 'remove', path: name, recursive: true, beneath: dest })
        .catch(() => {});
  }
}

interface Extraction {
  dest: string;
  beneath: Call;
  owners: boolean;
  setIdMask: number;
  maxBytes: number;
  maxFiles: number;
  signal: AbortSignal | undefined;
  result: CopyInResult;
}

async function extract(it: AsyncIterator<TarEntry>, x: Extraction): Promise<void> {
  const { dest, beneath, result } = x;
  /** Regular files extracted so far: the only valid hard-link targets. */
  const files = new Set<string>();
  /** Directory metadata applied at the end, dropped when a later entry replaces the path. */
  const dirMeta = new Map<string, { mode: number; uid: number; gid: number }>();
  let count = 0;
  const next = async () => {
    try {
      return await unlessAborted(it.next(), x.signal);
    } catch (err) {
      throw x.signal?.aborted ? err : sourceError(dest, err);
    }
  };
  const replace = async (path: string) => {
    dirMeta.delete(path);
    files.delete(path);
    await beneath({ op: 'remove', path, recursive: true }).catch((err: unknown) => {
      if ((err as SandboxFilesError).errnoCode !== 'ENOENT') throw err;
    });
  };
  for (let n = await next(); !n.done; n = await next()) {
    const e = n.value;
    if (++count > x.maxFiles)
      throw new SandboxFilesError('copyIn', dest, null, `more than ${x.maxFiles} entries (maxFiles)`);
    const path = entryPath(dest, e.path);
    const mode = e.mode & x.setIdMask;
    if (e.type === 'char' || e.type === 'block') throw refuse(dest, e.path, 'device node');
    if (path === '') {
      if (e.type !== 'dir') throw refuse(dest, e.path, 'replaces the destination');
      continue; // the destination's own mode and owner stay as they are
    }
    switch (e.type) {
      case 'dir': {
        files.delete(path);
        await beneath({ op: 'mkdir', path, mode: 0o700, parents: true }).catch(() => {});
        // mkdir with parents accepts anything already there: make sure it is a directory.
        const st = await beneath({ op: 'stat', path }).catch(() => undefined);
        if (st?.type !== 'dir') {
          await replace(path);
          await beneath({ op: 'mkdir', path, mode: 0o700, parents: true });
        }
        dirMeta.set(path, { mode, uid: e.uid, gid: e.gid });
        result.dirs++;
        break;
      }
      case 'file': {
        if (!Number.isSafeInteger(e.size) || e.size < 0) throw refuse(dest, e.path, `bad size ${e.size}`);
        if ((result.bytes += e.size) > x.maxBytes)
          throw new SandboxFilesError('copyIn', dest, 'EFBIG', `archive larger than ${x.maxBytes} bytes (maxBytes)`);
        await replace(path);
        await writeData(e, path, mode, x);
        files.add(path);
        if (x.owners) await beneath({ op: 'chown', path, uid: e.uid, gid: e.gid });
        await beneath({ op: 'chmod', path, mode });
        result.files++;
        break;
      }
      case 'symlink':
        if (!e.linkname || e.linkname.includes('\0') || Buffer.byteLength(e.linkname) > PATH_MAX)
          throw refuse(dest, e.path, 'bad symlink target');
        await replace(path);
        await beneath({ op: 'symlink', path, target: e.linkname, parents: true });
        if (x.owners) await beneath({ op: 'chown', path, uid: e.uid, gid: e.gid });
        result.symlinks++;
        break;
      case 'link': {
        const target = entryPath(dest, e.linkname);
        if (!files.has(target))
          throw refuse(
            dest,
            e.path,
            `hard link to ${JSON.stringify(e.linkname)}, which is not a file extracted earlier`
          );
        if (target === path) continue;
        await replace(path);
        await beneath({ op: 'link', path, target, parents: true });
        files.add(path);
        continue;
      }
      case 'fifo':
        await replace(path);
        await beneath({ op: 'mknod', path, kind: 'fifo', mode, parents: true });
        if (x.owners) await beneath({ op: 'chown', path, uid: e.uid, gid: e.gid });
        break;
    }
  }
  // Deepest first, so a directory made read-only does not stop its children's metadata.
  for (const [path, m] of [...dirMeta].sort((a, b) => b[0].length - a[0].length)) {
    if (x.owners) await beneath({ op: 'chown', path, uid: m.uid, gid: m.gid });
    await beneath({ op: 'chmod', path, mode: m.mode });
  }
}

/** A file's data in bounded writes: the first creates or truncates, the rest append. */
async function writeData(e: TarEntry, path: string, mode: number, x: Extraction): Promise<void> {
  const it = e.data[Symbol.asyncIterator]();
  let pending: Buffer[] = [];
  let size = 0;
  let first = true;
  const flush = async () => {
    await x.beneath(
      { op: 'write', path, mode: (mode & 0o777) | 0o600, parents: true, append: !first },
      Buffer.concat(pending)
    );
    first = false;
    pending = [];
    size = 0;
  };
  for (;;) {
    let n: IteratorResult<Buffer>;
    try {
      n = await unlessAborted(it.next(), x.signal);
    } catch (err) {
      throw x.signal?.aborted ? err : sourceError(x.dest, err);
    }
    if (n.done) break;
    for (let off = 0; off < n.value.length;) {
      const take = Math.min(n.value.length - off, WRITE_CHUNK_BYTES - size);
      pending.push(n.value.subarray(off, off + take));
      size += take;
      off += take;
      if (size === WRITE_CHUNK_BYTES) await flush();
    }
  }
  if (first || size > 0) await flush();
}

import { createReadStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { SandboxFilesError } from '../errors/sandbox-error.js';
import { decompressed } from '../images/compression.js';
import { readTar, type TarEntry } from '../images/tar-reader.js';
import type { FilesSession } from './files-session.js';

/** Options of `files.copyIn`. */
export interface CopyInOptions {
  /** Keep the archive's owners (root only; ids as seen inside). @defaultValue true as root, else false */
  preserveOwners?: boolean;
  /** Refuse archives with more bytes than this. @defaultValue 4 GiB */
  maxBytes?: number;
}

/** What `copyIn` wrote. */
export interface CopyInResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const refuse = (dest: string, entry: string, why: string) => new SandboxFilesError('copyIn', dest, null, `entry ${JSON.stringify(entry)} refused: ${why}`);

/** A tar entry's path as components under dest; absolute paths and '..' are refused. */
function entryPath(dest: string, name: string): string {
  if (name.startsWith('/')) throw refuse(dest, name, 'absolute path');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw refuse(dest, name, "'..' would leave the destination");
  return posix.join(dest, ...parts);
}

/** A host directory as tar-like entries (the directory is the caller's, trusted). */
async function* dirEntries(root: string, rel = ''): AsyncGenerator<TarEntry> {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const abs = join(root, path);
    const st = lstatSync(abs);
    const base = { path, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), linkname: '', devmajor: 0, devminor: 0, xattrs: {}, size: 0, data: (async function* () {})() };
    if (st.isDirectory()) {
      yield { ...base, type: 'dir' };
      yield* dirEntries(root, path);
    } else if (st.isSymbolicLink()) yield { ...base, type: 'symlink', linkname: readlinkSync(abs) };
    else if (st.isFile()) yield { ...base, type: 'file', size: st.size, data: createReadStream(abs) as AsyncIterable<Buffer> };
  }
}

async function collect(data: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of data) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * Writes a tar stream or a host directory into the sandbox at dest, every step through the
 * files channel (so paths resolve inside the sandbox). @internal
 */
export async function copyIn(session: FilesSession, source: AsyncIterable<Buffer> | string, dest: string, options: CopyInOptions): Promise<CopyInResult> {
  const result: CopyInResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const owners = options.preserveOwners ?? process.getuid?.() === 0;
  const maxBytes = options.maxBytes ?? 4 * 1024 ** 3;
  const written = new Set<string>();
  const entries = typeof source === 'string' ? dirEntries(source) : readTar(decompressed(source));
  await session.call('copyIn', { op: 'mkdir', path: dest, mode: 0o755, parents: true });
  for await (const e of entries) {
    const path = entryPath(dest, e.path);
    if (e.type === 'char' || e.type === 'block') throw refuse(dest, e.path, 'device node');
    if (path === dest && e.type !== 'dir') throw refuse(dest, e.path, 'replaces the destination');
    switch (e.type) {
      case 'dir':
        await session.call('copyIn', { op: 'mkdir', path, mode: e.mode || 0o755, parents: true });
        await session.call('copyIn', { op: 'chmod', path, mode: e.mode || 0o755 });
        result.dirs++;
        break;
      case 'file': {
        if ((result.bytes += e.size) > maxBytes) throw new SandboxFilesError('copyIn', dest, null, `archive larger than ${maxBytes} bytes`);
        await session.call('copyIn', { op: 'write', path, mode: e.mode, parents: true }, await collect(e.data));
        await session.call('copyIn', { op: 'chmod', path, mode: e.mode });
        result.files++;
        break;
      }
      case 'symlink':
        await session.call('copyIn', { op: 'remove', path }).catch(() => {});
        await session.call('copyIn', { op: 'symlink', path, target: e.linkname, parents: true });
        result.symlinks++;
        break;
      case 'link': {
        const target = entryPath(dest, e.linkname);
        if (!written.has(target)) throw refuse(dest, e.path, `hard link to ${JSON.stringify(e.linkname)}, which is not in the archive`);
        await session.call('copyIn', { op: 'remove', path }).catch(() => {});
        await session.call('copyIn', { op: 'link', path, target, parents: true });
        continue;
      }
      case 'fifo':
        await session.call('copyIn', { op: 'mknod', path, kind: 'fifo', mode: e.mode, parents: true });
        break;
    }
    written.add(path);
    if (owners) await session.call('copyIn', { op: 'chown', path, uid: e.uid, gid: e.gid });
  }
  return result;
}

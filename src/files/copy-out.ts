import { Readable } from 'node:stream';
import { posix } from 'node:path';
import { SandboxFilesError } from '../errors/sandbox-error.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../archive/tar-writer.js';
import type { FsStat } from '../helper/fs-channel.js';
import type { CallPolicy, FilesSession } from './files-session.js';
import { checkCount, type FilesCallOptions } from './files-options.js';

/** Caps of `files.copyOut`, and the options of every files call (`user`, `signal`, ...). */
export interface CopyOutOptions extends FilesCallOptions {
  /** Most file bytes the archive may hold. @defaultValue 1 GiB */
  maxBytes?: number;
  /** Most entries. @defaultValue 100000 */
  maxFiles?: number;
}

const TYPES: Partial<Record<FsStat['type'], TarWriteEntry['type']>> = {
  file: 'file',
  dir: 'dir',
  symlink: 'symlink',
  fifo: 'fifo',
};

/** A tar stream of a path inside the sandbox, built from list/stat/read/readlink calls. @internal */
export function copyOut(session: FilesSession, policy: CallPolicy, path: string, options: CopyOutOptions): Readable {
  const maxBytes = checkCount(options.maxBytes, 'maxBytes', 1024 ** 3);
  const maxFiles = checkCount(options.maxFiles, 'maxFiles', 100_000);
  const uid = process.getuid?.() ?? 0;
  const mapId = (id: number) => (uid !== 0 && id === uid ? 0 : id);
  let bytes = 0;
  let files = 0;
  const links = new Map<number, string>();

  async function* entry(abs: string, name: string, st: FsStat & { target?: string }): AsyncGenerator<Buffer> {
    const type = TYPES[st.type];
    if (!type) return; // devices and sockets are left out
    if (++files > maxFiles) throw new SandboxFilesError('copyOut', path, null, `more than ${maxFiles} entries`);
    const base = {
      path: name,
      type,
      mode: st.mode,
      uid: mapId(st.uid),
      gid: mapId(st.gid),
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (type === 'file' && st.nlink > 1 && links.has(st.ino)) {
      yield tarHeader({ ...base, type: 'link', linkname: links.get(st.ino)! });
      return;
    }
    if (type === 'symlink') {
      yield tarHeader({
        ...base,
        linkname: st.target ?? (await session.call('copyOut', policy, { op: 'readlink', path: abs })).target,
      });
    } else if (type === 'file') {
      if (st.nlink > 1) links.set(st.ino, name);
      const data = await session.read('copyOut', policy, abs, maxBytes - bytes);
      bytes += data.length;
      yield tarHeader({ ...base, size: data.length });
      yield data;
      yield tarPadding(data.length);
    } else {
      yield tarHeader({ ...base, path: type === 'dir' ? `${name}/` : name });
    }
    if (type === 'dir') {
      const { entries, truncated } = await session.list('copyOut', policy, abs, maxFiles - files + 1);
      if (truncated) throw new SandboxFilesError('copyOut', path, null, `more than ${maxFiles} entries`);
      const list = entries as Array<FsStat & { name: string; target?: string }>;
      for (const child of list.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        yield* entry(posix.join(abs, child.name), `${name}/${child.name}`, child);
      }
    }
  }

  async function* generate(): AsyncGenerator<Buffer> {
    const st: FsStat = await session.call('copyOut', policy, { op: 'stat', path });
    const name = posix.basename(path) || '.';
    try {
      yield* entry(path, name, st);
    } catch (err) {
      if ((err as SandboxFilesError).errnoCode === 'EFBIG')
        throw new SandboxFilesError('copyOut', path, 'EFBIG', `more than ${maxBytes} bytes`);
      throw err;
    }
    yield tarEnd();
  }

  return Readable.from(generate(), { objectMode: false });
}

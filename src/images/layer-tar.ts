import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { HostFsOps } from '../helper/host-fsops.js';
import { OPAQUE_MARKER, OPAQUE_XATTRS, WHITEOUT_PREFIX } from './layer-unpack.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../archive/tar-writer.js';
import { MAX_SPARSE_EXTENTS, type SparseExtent } from '../archive/tar-reader.js';
import type { ByteLimit } from './image-source.js';
import { SandboxImageError } from '../errors/sandbox-error.js';

/** A layer tar written to a file: its sha256 (the OCI diff id) and size. */
export interface WrittenLayer {
  digest: string;
  size: number;
}

const isOverlayXattr = (name: string) => name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');

/**
 * Writes the directory `root` (a store layer, or a plain rootfs directory) as an OCI layer tar
 * to `out`: a 0/0 character device becomes a `.wh.<name>` file, an opaque directory gets a
 * `.wh..wh..opq` entry, hard links inside the layer stay hard links, xattrs other than
 * overlayfs' own go in pax records. `mapId` turns host ids into ids inside (rootless: our uid → 0).
 * Entries are sorted, so the same tree gives the same digest.
 */
export async function writeLayerTar(
  root: string,
  out: string,
  ops: HostFsOps,
  mapId: (id: number) => number,
  limit?: ByteLimit
): Promise<WrittenLayer> {
  const file = createWriteStream(out, { mode: 0o600 });
  const hash = createHash('sha256');
  let size = 0;
  const put = async (chunk: Buffer): Promise<void> => {
    if (limit && (limit.bytes += chunk.length) > limit.maxBytes) {
      throw new SandboxImageError(
        'too-large',
        `the export would be larger than ${limit.maxBytes} bytes (raise maxBytes to write it)`,
        root
      );
    }
    hash.update(chunk);
    size += chunk.length;
    if (!file.write(chunk)) await once(file, 'drain');
  };
  try {
    return await writeTree(root, put, ops, mapId, async () => {
      file.end();
      await once(file, 'finish');
      return { digest: `sha256:${hash.digest('hex')}`, size };
    });
  } catch (err) {
    file.destroy();
    throw err;
  }
}

/** The data extents of a file that may be sparse (fewer blocks than its size), from the helper. */
async function dataExtents(ops: HostFsOps, rel: string, st: Stats): Promise<SparseExtent[] | undefined> {
  if (st.blocks * 512 >= st.size) return undefined;
  const extents: SparseExtent[] = [];
  for (let from = 0; from >= 0 && extents.length <= MAX_SPARSE_EXTENTS;) {
    const reply = await ops.call({ op: 'extents', path: rel, from });
    for (const [offset, length] of reply.extents) extents.push({ offset, length });
    from = reply.next;
  }
  // A map too long for readers to hold is not worth its savings: write the file whole.
  if (extents.length > MAX_SPARSE_EXTENTS) return undefined;
  const data = extents.reduce((n, x) => n + x.length, 0);
  return data < st.size
    ? extents
        .filter((x) => x.offset < st.size)
        .map((x) => ({ offset: x.offset, length: Math.min(x.length, st.size - x.offset) }))
    : undefined;
}

async function writeTree(
  root: string,
  put: (chunk: Buffer) => Promise<void>,
  ops: HostFsOps,
  mapId: (id: number) => number,
  finish: () => Promise<WrittenLayer>
): Promise<WrittenLayer> {
  const links = new Map<string, string>();

  const entry = (rel: string, st: Stats, extra: Partial<TarWriteEntry>): TarWriteEntry => ({
    path: rel,
    type: 'file',
    mode: st.mode & 0o7777,
    uid: mapId(st.uid),
    gid: mapId(st.gid),
    mtime: Math.floor(st.mtimeMs / 1000),
    ...extra,
  });

  const walk = async (rel: string): Promise<void> => {
    const names = readdirSync(join(root, rel)).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(root, path);
      const st = lstatSync(abs);
      if (st.isCharacterDevice() && st.rdev === 0) {
        await put(
          tarHeader(
            entry(rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`, st, { mode: 0o644, size: 0 })
          )
        );
        continue;
      }
      const all = await ops.xattrs(path);
      const xattrs = Object.fromEntries(Object.entries(all).filter(([k]) => !isOverlayXattr(k)));
      if (st.isDirectory()) {
        await put(tarHeader(entry(`${path}/`, st, { type: 'dir', xattrs })));
        if (OPAQUE_XATTRS.some((k) => all[k]?.toString() === 'y'))
          await put(tarHeader(entry(`${path}/${OPAQUE_MARKER}`, st, { mode: 0o644, size: 0, xattrs: {} })));
        await walk(path);
      } else if (st.isSymbolicLink()) {
        await put(tarHeader(entry(path, st, { type: 'symlink', linkname: readlinkSync(abs), xattrs })));
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first) {
          await put(tarHeader(entry(path, st, { type: 'link', linkname: first, xattrs: {} })));
          continue;
        }
        if (st.nlink > 1) links.set(key, path);
        // Holes stay holes: a sparse file goes as PAX sparse, only its data extents stored.
        const sparse = await dataExtents(ops, path, st);
        await put(tarHeader(entry(path, st, { size: st.size, xattrs, ...(sparse ? { sparse } : {}) })));
        let stored = 0;
        for (const ext of sparse ?? [{ offset: 0, length: st.size }]) {
          let written = 0;
          if (ext.length > 0) {
            for await (const chunk of createReadStream(abs, { start: ext.offset, end: ext.offset + ext.length - 1 })) {
              written += (chunk as Buffer).length;
              await put(chunk as Buffer);
            }
          }
          // A file that shrank while being read is padded to the size its header gave.
          for (let gap = ext.length - written; gap > 0; gap -= 65536) await put(Buffer.alloc(Math.min(gap, 65536)));
          stored += ext.length;
        }
        await put(tarPadding(stored));
      } else {
        const type = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : undefined;
        if (!type) continue; // sockets do not go in images
        await put(
          tarHeader(
            entry(path, st, {
              type,
              devmajor: Math.floor(st.rdev / 256) & 0xfff,
              devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
              xattrs,
            })
          )
        );
      }
    }
  };

  await walk('');
  await put(tarEnd());
  return finish();
}

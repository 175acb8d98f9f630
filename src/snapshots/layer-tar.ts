import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { HostFsOps } from '../images/host-fsops.js';
import { OPAQUE_MARKER, OPAQUE_XATTRS, WHITEOUT_PREFIX } from '../images/layer-unpack.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../images/tar-writer.js';

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
export async function writeLayerTar(root: string, out: string, ops: HostFsOps, mapId: (id: number) => number): Promise<WrittenLayer> {
  const file = createWriteStream(out, { mode: 0o600 });
  const hash = createHash('sha256');
  let size = 0;
  const put = async (chunk: Buffer): Promise<void> => {
    hash.update(chunk);
    size += chunk.length;
    if (!file.write(chunk)) await once(file, 'drain');
  };
  const links = new Map<string, string>();

  const entry = (rel: string, st: Stats, extra: Partial<TarWriteEntry>): TarWriteEntry => ({
    path: rel, type: 'file', mode: st.mode & 0o7777, uid: mapId(st.uid), gid: mapId(st.gid), mtime: Math.floor(st.mtimeMs / 1000), ...extra,
  });

  const walk = async (rel: string): Promise<void> => {
    const names = readdirSync(join(root, rel)).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(root, path);
      const st = lstatSync(abs);
      if (st.isCharacterDevice() && st.rdev === 0) {
        await put(tarHeader(entry(rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`, st, { mode: 0o644, size: 0 })));
        continue;
      }
      const all = await ops.xattrs(path);
      const xattrs = Object.fromEntries(Object.entries(all).filter(([k]) => !isOverlayXattr(k)));
      if (st.isDirectory()) {
        await put(tarHeader(entry(`${path}/`, st, { type: 'dir', xattrs })));
        if (OPAQUE_XATTRS.some((k) => all[k]?.toString() === 'y')) await put(tarHeader(entry(`${path}/${OPAQUE_MARKER}`, st, { mode: 0o644, size: 0, xattrs: {} })));
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
        await put(tarHeader(entry(path, st, { size: st.size, xattrs })));
        let written = 0;
        for await (const chunk of createReadStream(abs, { end: Math.max(0, st.size - 1) })) {
          if (st.size === 0) break;
          written += (chunk as Buffer).length;
          await put(chunk as Buffer);
        }
        if (written < st.size) await put(Buffer.alloc(st.size - written));
        await put(tarPadding(st.size));
      } else {
        const type = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : undefined;
        if (!type) continue; // sockets do not go in images
        await put(tarHeader(entry(path, st, { type, devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00), xattrs })));
      }
    }
  };

  await walk('');
  await put(tarEnd());
  file.end();
  await once(file, 'finish');
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

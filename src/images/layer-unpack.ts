import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { SandboxImageError } from '../errors/sandbox-error.js';
import type { TarEntry } from './tar-reader.js';
import type { HostFsOps } from './host-fsops.js';

/** The OCI whiteout prefix and the opaque-directory marker. */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** Opaque xattrs: `user.` for overlays mounted with `userxattr` (in a user namespace), `trusted.` otherwise. */
export const OPAQUE_XATTRS = ['user.overlay.opaque', 'trusted.overlay.opaque'] as const;

/** What unpacking a layer did. */
export interface UnpackStats {
  entries: number;
  bytes: number;
  whiteouts: number;
  opaqueDirs: number;
  /** Entries that could not be reproduced as this user (device nodes, foreign xattrs). */
  skipped: string[];
}

/** Splits a tar path into safe components, or throws for '..' (absolute paths become relative). */
export function safeComponents(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new SandboxImageError('unsafe-entry', `entry ${JSON.stringify(path)} escapes the layer`, path);
  if (path.includes('\0')) throw new SandboxImageError('unsafe-entry', `entry ${JSON.stringify(path)} contains NUL`, path);
  return parts;
}

/**
 * Unpacks one layer tar into `root`, a fresh directory only sandkit writes to, turning OCI
 * whiteouts into overlayfs ones (a `.wh.name` entry → a 0/0 character device `name`;
 * `.wh..wh..opq` → the opaque xattr on its directory). No entry can leave `root`: '..' is
 * refused and every parent directory is checked to be a real directory, not a symlink.
 * Owners are kept only when running as root.
 * @throws {SandboxImageError} `unsafe-entry` or `format`.
 */
export async function unpackLayer(entries: AsyncIterable<TarEntry>, root: string, ops: HostFsOps, asRoot: boolean): Promise<UnpackStats> {
  const stats: UnpackStats = { entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0, skipped: [] };
  const safeDirs = new Set<string>(['']);
  const dirs: Array<{ rel: string; mode: number; mtime: number }> = [];
  const opaque = new Set<string>();

  const ensureDir = async (parts: string[]): Promise<void> => {
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (safeDirs.has(rel)) continue;
      const st = await lstat(join(root, rel)).catch(() => null);
      if (!st) await mkdir(join(root, rel), { mode: 0o755 });
      else if (!st.isDirectory()) throw new SandboxImageError('unsafe-entry', `entry below ${JSON.stringify(rel)}, which is not a directory`, rel);
      safeDirs.add(rel);
    }
  };

  for await (const e of entries) {
    stats.entries++;
    const parts = safeComponents(e.path);
    if (parts.length === 0) continue; // the root itself
    const name = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    await ensureDir(parentParts);
    const rel = parts.join('/');
    const abs = join(root, rel);
    if (name === OPAQUE_MARKER) {
      opaque.add(parentParts.join('/'));
      continue;
    }
    if (name.startsWith(WHITEOUT_PREFIX)) {
      const target = [...parentParts, name.slice(WHITEOUT_PREFIX.length)].join('/');
      await rm(join(root, target), { recursive: true, force: true });
      safeDirs.delete(target);
      await ops.call({ op: 'mknod', path: target, kind: 'whiteout' });
      stats.whiteouts++;
      continue;
    }
    const existing = await lstat(abs).catch(() => null);
    if (existing && !(existing.isDirectory() && e.type === 'dir')) {
      await rm(abs, { recursive: true, force: true });
      for (const d of safeDirs) if (d === rel || d.startsWith(`${rel}/`)) safeDirs.delete(d);
    }
    switch (e.type) {
      case 'dir':
        if (!existing) await mkdir(abs, { mode: 0o755 });
        safeDirs.add(rel);
        dirs.push({ rel, mode: e.mode, mtime: e.mtime });
        break;
      case 'file': {
        const fh = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        await pipeline(Readable.from(e.data), fh.createWriteStream());
        stats.bytes += e.size;
        break;
      }
      case 'symlink':
        await symlink(e.linkname, abs);
        break;
      case 'link': {
        const target = safeComponents(e.linkname).join('/');
        const st = await lstat(join(root, target)).catch(() => null);
        if (!st || st.isDirectory()) throw new SandboxImageError('unsafe-entry', `hard link ${JSON.stringify(e.path)} to ${JSON.stringify(e.linkname)}, which is not in the layer`, e.path);
        await ensureDir(safeComponents(e.linkname).slice(0, -1));
        await link(join(root, target), abs);
        continue; // shares the target's inode: no metadata of its own
      }
      default:
        if (e.type === 'char' && e.devmajor === 0 && e.devminor === 0) {
          await ops.call({ op: 'mknod', path: rel, kind: 'whiteout' });
          stats.whiteouts++;
          continue;
        }
        if (!asRoot && e.type !== 'fifo') {
          stats.skipped.push(rel);
          continue;
        }
        await ops.call({ op: 'mknod', path: rel, kind: e.type, mode: e.mode, major: e.devmajor, minor: e.devminor });
    }
    if (asRoot) await lchown(abs, e.uid, e.gid);
    if (e.type !== 'symlink' && e.type !== 'dir') await chmod(abs, e.mode);
    for (const [key, value] of Object.entries(e.xattrs)) {
      const ok = await ops.tryCall({ op: 'setxattr', path: rel, name: key, value: value.toString('base64') });
      if (!ok) stats.skipped.push(`${rel} (xattr ${key})`);
    }
    if (e.type !== 'dir') await lutimes(abs, e.mtime, e.mtime).catch(() => {});
  }
  for (const dir of opaque) {
    await ensureDir(dir ? dir.split('/') : []);
    await markOpaque(ops, dir || '/', asRoot);
    stats.opaqueDirs++;
  }
  // Modes and times of directories last: a read-only directory must not block its own entries.
  for (const d of dirs.reverse()) {
    await chmod(join(root, d.rel), d.mode);
    await utimes(join(root, d.rel), d.mtime, d.mtime).catch(() => {});
  }
  return stats;
}

/** Sets the opaque xattr(s) on a layer directory: `user.` always, `trusted.` too as root. */
export async function markOpaque(ops: HostFsOps, rel: string, asRoot: boolean): Promise<void> {
  const y = Buffer.from('y').toString('base64');
  await ops.call({ op: 'setxattr', path: rel, name: OPAQUE_XATTRS[0], value: y });
  if (asRoot) await ops.call({ op: 'setxattr', path: rel, name: OPAQUE_XATTRS[1], value: y });
}

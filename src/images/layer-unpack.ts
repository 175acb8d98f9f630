import { constants } from 'node:fs';
import { lchown, link, lstat, lutimes, mkdir, open, rm, symlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxImageError } from '../errors/sandbox-error.js';
import type { TarEntry } from '../archive/tar-reader.js';
import type { HostFsOps } from '../helper/host-fsops.js';

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
  /** Device nodes left out (never created in the store; see docs/security.md). */
  devices: number;
  /** Entries that were not reproduced (device nodes, xattrs this user cannot set or overlayfs' own). */
  skipped: string[];
}

/** Limits shared by all layers of one import; `bytes` and `entries` count what was used. */
export interface UnpackBudget {
  maxEntries: number;
  entries: number;
}

/** Splits a tar path into safe components, or throws for '..' (absolute paths become relative). */
export function safeComponents(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..'))
    throw new SandboxImageError('unsafe-entry', `entry ${JSON.stringify(path)} escapes the layer`, path);
  if (path.includes('\0'))
    throw new SandboxImageError('unsafe-entry', `entry ${JSON.stringify(path)} contains NUL`, path);
  return parts;
}

/** Metadata of a directory entry, applied when the whole layer is in place. */
interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/**
 * A directory this unpack made (or found) and checked to be a real directory, not a symlink.
 * Its pending metadata, opaque flag and skipped device names live on the node, so removing a
 * path drops them with the whole subtree in one step.
 */
class DirNode {
  readonly children = new Map<string, DirNode>();
  meta: DirMeta | undefined;
  opaque = false;
  readonly devices = new Set<string>();
}

const unsafe = (rel: string, why: string) =>
  new SandboxImageError('unsafe-entry', `entry ${JSON.stringify(rel)}: ${why}`, rel);

const isOverlayXattr = (name: string) => name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');

/** Whether a chunk is all zeros (then it is left as a hole). */
function isZero(chunk: Buffer): boolean {
  for (let i = 0; i < chunk.length; i += ZEROS.length) {
    const part = chunk.subarray(i, i + ZEROS.length);
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}
const ZEROS = Buffer.alloc(64 * 1024);

/**
 * The tree being unpacked under `root`, a fresh private directory that only this unpack
 * writes to. Every create, removal and metadata change goes through here: parents are
 * directories this tree made or checked with lstat (never a symlink), final components are
 * created exclusively or acted on through O_NOFOLLOW fds and l*() calls, so no entry — nor
 * any later entry replacing a path — can make an operation land outside `root`.
 */
class LayerTree {
  readonly top = new DirNode();
  constructor(readonly root: string) {}

  abs(parts: readonly string[]): string {
    return join(this.root, ...parts);
  }

  /** The node of directory `parts`, creating missing directories (mode 0755 until the end). */
  async dir(parts: readonly string[], create: boolean): Promise<DirNode | undefined> {
    let node = this.top;
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      let child = node.children.get(name);
      if (!child) {
        const here = parts.slice(0, i + 1);
        const st = await lstat(this.abs(here)).catch(() => null);
        if (st && !st.isDirectory()) throw unsafe(here.join('/'), 'entries below it, but it is not a directory');
        if (!st) {
          if (!create) return undefined;
          await mkdir(this.abs(here), { mode: 0o755 });
        }
        child = new DirNode();
        node.children.set(name, child);
      }
      node = child;
    }
    return node;
  }

  /** Removes whatever `parent/name` is, with the pending metadata of it and everything below. */
  async remove(parent: DirNode, parts: readonly string[]): Promise<void> {
    const name = parts[parts.length - 1]!;
    parent.children.delete(name);
    parent.devices.delete(name);
    const st = await lstat(this.abs(parts)).catch(() => null);
    if (st) await rm(this.abs(parts), { recursive: st.isDirectory(), force: true });
  }

  /** Post-order walk over the directories with their paths (children before parents). */
  *walk(): Generator<[string[], DirNode]> {
    const stack: Array<[string[], DirNode, boolean]> = [[[], this.top, false]];
    while (stack.length > 0) {
      const [parts, node, expanded] = stack.pop()!;
      if (expanded) {
        yield [parts, node];
        continue;
      }
      stack.push([parts, node, true]);
      for (const [name, child] of node.children) stack.push([[...parts, name], child, false]);
    }
  }
}

/**
 * Unpacks one layer tar into `root`, a fresh directory only sandkit writes to, turning OCI
 * whiteouts into overlayfs ones (a `.wh.name` entry → a 0/0 character device `name`;
 * `.wh..wh..opq` → the opaque xattr on its directory). No entry can leave `root` or act
 * through a symlink: '..' is refused, every parent is a checked real directory, hard links
 * must name an entry of the layer, and directory metadata, applied last, goes through
 * O_NOFOLLOW fds of directories still in place (a path replaced later in the layer loses the
 * metadata of its earlier entry). Set-id bits of directories are dropped; device nodes are
 * left out; owners are kept only when running as root.
 * @throws {SandboxImageError} `unsafe-entry`, `format` or `too-large` (more than `budget.maxEntries`).
 */
export async function unpackLayer(
  entries: AsyncIterable<TarEntry>,
  root: string,
  ops: HostFsOps,
  asRoot: boolean,
  budget?: UnpackBudget
): Promise<UnpackStats> {
  const stats: UnpackStats = { entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0, devices: 0, skipped: [] };
  const tree = new LayerTree(root);

  const setXattrs = async (rel: string, xattrs: Record<string, Buffer>): Promise<void> => {
    for (const [key, value] of Object.entries(xattrs)) {
      const ok =
        !isOverlayXattr(key) &&
        (await ops.tryCall({ op: 'setxattr', path: rel, name: key, value: value.toString('base64') }));
      if (!ok) stats.skipped.push(`${rel} (xattr ${key})`);
    }
  };

  for await (const e of entries) {
    try {
      await unpackEntry(e);
    } catch (err) {
      throw typed(err, e.path);
    }
  }
  await finishDirs(tree, ops, asRoot, stats).catch((err: unknown) => {
    throw typed(err, null);
  });
  return stats;

  async function unpackEntry(e: TarEntry): Promise<void> {
    stats.entries++;
    // Each extent of a sparse file costs a write, like an entry: they count against the same cap.
    if (budget && (budget.entries += 1 + (e.sparse?.extents.length ?? 0)) > budget.maxEntries) {
      throw new SandboxImageError(
        'too-large',
        `more than ${budget.maxEntries} entries and sparse extents (raise maxEntries to import it)`,
        e.path
      );
    }
    const parts = safeComponents(e.path);
    if (parts.length === 0) return; // the root itself
    const name = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    const rel = parts.join('/');
    if (name === OPAQUE_MARKER) {
      (await tree.dir(parentParts, true))!.opaque = true;
      return;
    }
    const parent = (await tree.dir(parentParts, true))!;
    if (name.startsWith(WHITEOUT_PREFIX)) {
      const hidden = name.slice(WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw unsafe(rel, 'a whiteout of no name');
      const target = [...parentParts, hidden];
      await tree.remove(parent, target);
      await ops.call({ op: 'mknod', path: target.join('/'), kind: 'whiteout' });
      stats.whiteouts++;
      return;
    }
    const abs = tree.abs(parts);
    if (e.type === 'dir') {
      let node = parent.children.get(name);
      if (!node) {
        await tree.remove(parent, parts);
        await mkdir(abs, { mode: 0o755 });
        node = new DirNode();
        parent.children.set(name, node);
      }
      node.meta = { mode: e.mode & 0o1777, uid: e.uid, gid: e.gid, mtime: e.mtime };
      await setXattrs(rel, e.xattrs);
      return;
    }
    // Any other entry replaces what the path held, and that entry's pending metadata.
    await tree.remove(parent, parts);
    switch (e.type) {
      case 'file': {
        const fh = await open(
          abs,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600
        );
        try {
          stats.bytes += await writeContent(fh, e);
          if (asRoot) await fh.chown(e.uid, e.gid);
          await setXattrs(rel, e.xattrs);
          await fh.chmod(e.mode);
          await fh.utimes(e.mtime, e.mtime);
        } finally {
          await fh.close();
        }
        return;
      }
      case 'symlink':
        await symlink(e.linkname, abs);
        if (asRoot) await lchown(abs, e.uid, e.gid);
        if (Object.keys(e.xattrs).length > 0) stats.skipped.push(`${rel} (xattrs of a symlink)`);
        await lutimes(abs, e.mtime, e.mtime).catch(() => {});
        return;
      case 'link': {
        const target = safeComponents(e.linkname);
        const from = target.length > 0 ? await tree.dir(target.slice(0, -1), false) : undefined;
        if (from?.devices.has(target[target.length - 1]!)) {
          stats.skipped.push(`${rel} (hard link to a device)`);
          return;
        }
        const st = from ? await lstat(tree.abs(target)).catch(() => null) : null;
        if (!st || st.isDirectory())
          throw unsafe(rel, `a hard link to ${JSON.stringify(e.linkname)}, which is not a file of the layer`);
        await link(tree.abs(target), abs);
        return; // shares the target's inode: no metadata of its own
      }
      case 'char':
      case 'block':
        if (e.type === 'char' && e.devmajor === 0 && e.devminor === 0) {
          await ops.call({ op: 'mknod', path: rel, kind: 'whiteout' });
          stats.whiteouts++;
          return;
        }
        // A real device is never made in the store: a sandbox could open it (docs/security.md).
        parent.devices.add(name);
        stats.devices++;
        stats.skipped.push(`${rel} (${e.type} device ${e.devmajor}:${e.devminor})`);
        return;
      case 'fifo':
        await ops.call({ op: 'mknod', path: rel, kind: 'fifo', mode: 0o600 });
        if (asRoot) await lchown(abs, e.uid, e.gid);
        await ops.call({ op: 'chmod', path: rel, mode: e.mode });
        await lutimes(abs, e.mtime, e.mtime).catch(() => {});
        return;
    }
  }
}

/** A file system error while unpacking, as a typed error naming the entry. */
function typed(err: unknown, path: string | null): Error {
  if (err instanceof SandboxImageError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  // The host's own trouble (disk full, permissions) is not the archive's fault.
  const hostSide =
    code === 'ENOSPC' ||
    code === 'EDQUOT' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EIO' ||
    code === 'EROFS';
  const what = path === null ? 'applying directory metadata' : `entry ${JSON.stringify(path)}`;
  return new SandboxImageError(hostSide ? 'unsupported' : 'format', `${what}: ${(err as Error).message}`, path, {
    cause: err,
  });
}

/**
 * Writes a file's content, leaving all-zero stretches (and a sparse entry's holes) as holes.
 * Returns the bytes the archive stored for it.
 */
async function writeContent(fh: FileHandle, e: TarEntry): Promise<number> {
  let stored = 0;
  let pos = 0;
  const put = async (chunk: Buffer) => {
    stored += chunk.length;
    if (!isZero(chunk)) await fh.write(chunk, 0, chunk.length, pos);
    pos += chunk.length;
  };
  if (e.sparse) {
    // The reader's chunks never straddle two extents: each goes at its extent's place.
    const extents = e.sparse.extents;
    let i = -1;
    let left = 0;
    for await (const chunk of e.sparse.segments) {
      while (left === 0 && i + 1 < extents.length) ({ offset: pos, length: left } = extents[++i]!);
      if (chunk.length > left)
        throw new SandboxImageError('format', `sparse file ${JSON.stringify(e.path)}: data past its map`, e.path);
      await put(chunk);
      left -= chunk.length;
    }
  } else {
    for await (const chunk of e.data) await put(chunk);
  }
  await fh.truncate(e.size);
  return stored;
}

/**
 * Applies directory metadata, deepest first (a read-only directory must not block its own
 * entries): only to directories still in the tree, each checked again component by component
 * with lstat and opened O_NOFOLLOW | O_DIRECTORY, with fchown/fchmod/futimes on that fd.
 */
async function finishDirs(tree: LayerTree, ops: HostFsOps, asRoot: boolean, stats: UnpackStats): Promise<void> {
  const checked = new Set<string>(['']);
  const realDir = async (parts: string[]): Promise<boolean> => {
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (checked.has(rel)) continue;
      const st = await lstat(tree.abs(parts.slice(0, i))).catch(() => null);
      if (!st?.isDirectory()) return false;
      checked.add(rel);
    }
    return true;
  };
  for (const [parts, node] of tree.walk()) {
    if (!node.meta && !node.opaque) continue;
    if (!(await realDir(parts))) throw unsafe(parts.join('/'), 'no longer a directory of the layer');
    if (node.opaque) {
      await markOpaque(ops, parts.join('/') || '/', asRoot);
      stats.opaqueDirs++;
    }
    if (!node.meta) continue;
    const fh = await open(tree.abs(parts), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      if (asRoot) await fh.chown(node.meta.uid, node.meta.gid);
      await fh.chmod(node.meta.mode);
      await fh.utimes(node.meta.mtime, node.meta.mtime);
    } finally {
      await fh.close();
    }
  }
}

/** Sets the opaque xattr(s) on a layer directory: `user.` always, `trusted.` too as root. */
export async function markOpaque(ops: HostFsOps, rel: string, asRoot: boolean): Promise<void> {
  const y = Buffer.from('y').toString('base64');
  await ops.call({ op: 'setxattr', path: rel, name: OPAQUE_XATTRS[0], value: y });
  if (asRoot) await ops.call({ op: 'setxattr', path: rel, name: OPAQUE_XATTRS[1], value: y });
}

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTreeSync } from '../platform/remove-tree.js';

/** Mount points every root needs, whatever the image has. */
const MOUNT_POINTS: Array<[string, number]> = [
  ['proc', 0o555],
  ['dev', 0o755],
  ['sys', 0o555],
  ['tmp', 0o1777],
  ['run', 0o755],
  ['etc', 0o755],
];

/**
 * The topmost read-only layer of every sandbox: mount points plus the /etc files sandkit writes
 * (hostname, hosts, resolv.conf). It depends only on those files' contents, so sandboxes with
 * the same hostname and network share one copy per session and a new sandbox's writable layer
 * starts empty — nothing to write when it starts, little to remove when it ends.
 */
export function baseLayerFor(sessionDir: string, etcFiles: Record<string, string>): string {
  const key = createHash('sha256').update(JSON.stringify(etcFiles)).digest('hex').slice(0, 16);
  const dir = join(sessionDir, 'base-layers', key);
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  removeTreeSync(tmp);
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  for (const [name, mode] of MOUNT_POINTS) mkdirSync(join(tmp, name), { mode });
  for (const [name, content] of Object.entries(etcFiles))
    writeFileSync(join(tmp, 'etc', name), content, { mode: 0o644 });
  renameSync(tmp, dir);
  return dir;
}

/** An empty directory, the second lower layer every read-only overlay needs (one per session). */
export function emptyLayerFor(sessionDir: string): string {
  const dir = join(sessionDir, 'empty-layer');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

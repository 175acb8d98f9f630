import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import {
  SandboxAbortedError,
  SandboxImageError,
  SandboxOptionsError,
  SandboxUnsupportedError,
} from '../errors/sandbox-error.js';
import { HostFsOps } from '../helper/host-fsops.js';
import { localLayerId, type ImageRecord } from '../images/layer-store.js';
import { OPAQUE_XATTRS, markOpaque } from '../images/layer-unpack.js';
import { removeTree } from '../platform/remove-tree.js';
import { ownedCommand } from '../platform/owned-command.js';
import { checkStoreOption, storeOf, type Image, type StoreOptions } from '../images/image.js';
import { Snapshot } from './snapshot.js';

const run = promisify(execFile);

/** Options of `sandbox.snapshot()`. */
export interface SnapshotOptions extends StoreOptions {
  /** A name to find it by later (`Image.fromStore(name)`). */
  name?: string;
  /** Aborting stops the copy, removes the partial layer and rejects with `SandboxAbortedError`. */
  signal?: AbortSignal;
}

/** What the sandbox tells the snapshotter. @internal */
export interface SnapshotContext {
  image: Image;
  /** The sandbox's writable layer on the host, or undefined before it started. */
  upperDir: string | undefined;
  /** Spawns still running. */
  running: number;
  /** Freezes or thaws the sandbox's cgroup; undefined without a freezer. */
  freeze: ((frozen: boolean) => Promise<void>) | undefined;
}

/** As root, makes every opaque directory opaque for both kinds of overlay mounts. */
async function normalizeOpaque(ops: HostFsOps, dir: string, rel: string): Promise<void> {
  const x = await ops.xattrs(rel || '/');
  if (OPAQUE_XATTRS.some((k) => x[k]?.toString() === 'y')) await markOpaque(ops, rel || '/', true);
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    if (e.isDirectory()) await normalizeOpaque(ops, dir, rel ? `${rel}/${e.name}` : e.name);
  }
}

/**
 * Copies the writable layer into a new store layer, pausing the sandbox meanwhile when it has
 * a freezer. Without one, running programs could change (or swap symlinks into) the tree
 * being copied, so the sandbox must be idle.
 * @internal
 */
export async function takeSnapshot(ctx: SnapshotContext, options: SnapshotOptions = {}): Promise<Snapshot> {
  const { layers: baseLayers, base } = ctx.image.stack;
  const store = ctx.image.layerStore ?? storeOf(options);
  if (ctx.running > 0 && !ctx.freeze) {
    throw new SandboxUnsupportedError(
      ['cgroup freezer'],
      'a snapshot of a sandbox with running programs needs the cgroup freezer; take it between runs'
    );
  }
  if (options.signal?.aborted) throw new SandboxAbortedError('snapshot: aborted', { cause: options.signal.reason });
  const layer = localLayerId();
  const dir = store.tempDir('snap');
  const fs = join(dir, 'fs');
  try {
    if (ctx.upperDir) {
      await ctx.freeze?.(true);
      try {
        // cp dies with this process: a kill -9 of Node mid-copy leaves no orphan writing on.
        await run(...ownedCommand('cp', ['-a', '--reflink=auto', '--no-target-directory', ctx.upperDir, fs]), {
          maxBuffer: 1 << 20,
          signal: options.signal,
        });
      } finally {
        await ctx.freeze?.(false);
      }
    } else {
      mkdirSync(fs, { mode: 0o755 });
    }
    if (process.getuid?.() === 0) {
      const ops = HostFsOps.open(fs);
      try {
        await normalizeOpaque(ops, fs, '');
      } finally {
        await ops.close();
      }
    }
    await store.commitLayer(layer, dir, { snapshot: true });
  } catch (err) {
    await removeTree(dir);
    if (options.signal?.aborted) throw new SandboxAbortedError('snapshot: aborted', { cause: options.signal.reason });
    if (err instanceof SandboxImageError) throw err;
    throw new SandboxImageError(
      'unsupported',
      `snapshot: copying the writable layer failed: ${(err as Error).message}`,
      ctx.upperDir ?? null,
      { cause: err }
    );
  }
  const record: ImageRecord = {
    id: `snap-${randomBytes(12).toString('hex')}`,
    kind: 'snapshot',
    names: options.name ? [options.name] : [],
    layers: [...baseLayers, layer],
    config: ctx.image.config,
    ...(base ? { base: base.toString() } : {}),
    createdAt: new Date().toISOString(),
  };
  store.writeRecord(record);
  return new Snapshot(record, store, base);
}

const SNAPSHOT_KEYS = ['store', 'name', 'signal'];

/** Throws `SandboxOptionsError` naming the first bad field of `sandbox.snapshot(options)`. */
export function checkSnapshotOptions(options: SnapshotOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new SandboxOptionsError('options', 'expected { name?, store?, signal? }');
  for (const key of Object.keys(options))
    if (!SNAPSHOT_KEYS.includes(key)) throw new SandboxOptionsError(key, 'unknown snapshot option');
  if (
    options.name !== undefined &&
    (typeof options.name !== 'string' || !options.name || options.name.length > 256 || /[\0\n]/.test(options.name))
  ) {
    throw new SandboxOptionsError('name', 'expected a non-empty name of at most 256 characters');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new SandboxOptionsError('signal', 'expected an AbortSignal');
  checkStoreOption(options.store);
}

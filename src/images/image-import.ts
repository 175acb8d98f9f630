import { createHash, type Hash } from 'node:crypto';
import { mkdirSync, statSync, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import { SandboxImageError } from '../errors/sandbox-error.js';
import { removeTree } from '../platform/remove-tree.js';
import { decompressed, withinBytes } from '../archive/compression.js';
import { HostFsOps } from '../helper/host-fsops.js';
import { parseImageConfig } from './image-config.js';
import { openImageSource, type SourceLayer } from './image-source.js';
import { imageFileStream, openImageFile } from './image-files.js';
import type { ImageRecord, LayerStore } from './layer-store.js';
import { unpackLayer } from './layer-unpack.js';
import { readTar } from '../archive/tar-reader.js';

/** Progress of an import, reported per layer and every few MiB. */
export interface ImportProgress {
  /** Index of the layer (0 = bottom) and how many there are. */
  layer: number;
  /** How many layers the image has. */
  layers: number;
  /** The layer's diff id, once known. */
  digest: string | null;
  /** Bytes of the blob read so far, and its size. */
  bytes: number;
  /** The blob's size in bytes. */
  totalBytes: number;
  /** True when the layer was already in the store (nothing to do). */
  cached: boolean;
  /** True on the layer's last report. */
  done: boolean;
}

/** Options of an import. */
export interface ImportOptions {
  /** A name to find the image by later (`Image.fromStore(name)`, `sandkit run --image name`). */
  name?: string;
  /** Called as layers are read. */
  onProgress?: (progress: ImportProgress) => void;
  /**
   * Most bytes the image may unpack to: its layer tars uncompressed (and an archive's own
   * content), all layers together. Past it the import stops with a `too-large`
   * {@link SandboxImageError} and leaves nothing in the store.
   * @defaultValue the larger of 512 MiB and 100 × the compressed size (a gzip bomb inflates ~1000×)
   */
  maxBytes?: number;
  /** Most tar entries in all layers together. @defaultValue 1,000,000 */
  maxEntries?: number;
  /** Stops the import between reads. */
  signal?: AbortSignal;
}

/** Limits of one import, and what it has used of them so far. */
export interface ImportBudget {
  maxBytes: number;
  bytes: number;
  maxEntries: number;
  entries: number;
}

export const DEFAULT_IMPORT_MAX_ENTRIES = 1_000_000;

/** The default `maxBytes` of an import whose compressed input is `compressed` bytes. */
export function defaultImportMaxBytes(compressed: number): number {
  return Math.max(512 * 1024 ** 2, 100 * compressed);
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
    throw new SandboxImageError('format', `${name} must be a positive integer, not ${String(value)}`);
  }
}

async function* hashing(
  source: AsyncIterable<Buffer>,
  hash: Hash,
  onBytes?: (n: number) => void
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    onBytes?.(chunk.length);
    yield chunk;
  }
}

const sha = (h: Hash) => `sha256:${h.digest('hex')}`;

async function blobSize(layer: SourceLayer): Promise<number> {
  const fh = await openImageFile(layer.root, layer.file);
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/**
 * Unpacks one blob into a temp dir, verifies it, and commits it; returns its diff id. When the
 * layer is in the store already, ours is dropped and the blob is recorded as verified for it.
 * Call it holding the layer's lock when the diff id is known.
 */
export async function importLayer(
  store: LayerStore,
  layer: SourceLayer,
  budget: ImportBudget,
  report: (bytes: number, digest: string | null) => void,
  signal?: AbortSignal
): Promise<string> {
  const dir = store.tempDir('layer');
  const fs = join(dir, 'fs');
  mkdirSync(fs, { mode: 0o755 });
  const ops = HostFsOps.open(fs);
  let blobStream: ReadStream | undefined;
  try {
    const blobHash = createHash('sha256');
    const diffHash = createHash('sha256');
    let bytes = 0;
    blobStream = await imageFileStream(layer.root, layer.file, signal);
    const raw = hashing(blobStream, blobHash, (n) => report((bytes += n), layer.diffId ?? null));
    const tar = hashing(withinBytes(decompressed(raw), budget, layer.diffId ?? layer.file), diffHash);
    const stats = await unpackLayer(
      readTar(tar, { maxExtents: budget.maxEntries }),
      fs,
      ops,
      process.getuid?.() === 0,
      budget
    );
    const blobDigest = sha(blobHash);
    const diffId = sha(diffHash);
    if (layer.blobDigest && blobDigest !== layer.blobDigest)
      throw new SandboxImageError(
        'digest-mismatch',
        `layer blob ${layer.blobDigest} has digest ${blobDigest}`,
        layer.blobDigest
      );
    if (layer.diffId && diffId !== layer.diffId)
      throw new SandboxImageError(
        'digest-mismatch',
        `layer ${layer.diffId} unpacks to content with digest ${diffId}`,
        layer.diffId
      );
    await ops.close();
    const info = {
      blobDigest,
      blobDigests: [blobDigest],
      bytes,
      whiteouts: stats.whiteouts,
      opaqueDirs: stats.opaqueDirs,
      devices: stats.devices,
      skipped: stats.skipped.slice(0, 100),
    };
    const existed = store.hasLayer(diffId);
    await store.commitLayer(diffId, dir, info);
    if (existed) store.addVerifiedBlob(diffId, blobDigest);
    return diffId;
  } catch (err) {
    blobStream?.destroy();
    await ops.close().catch(() => {});
    await removeTree(dir);
    // A corrupt tar from a blob that does not match its digest is a digest error first.
    if (layer.blobDigest && !(err instanceof SandboxImageError && err.reason === 'digest-mismatch')) {
      const actual = await fileDigest(layer);
      if (actual !== layer.blobDigest)
        throw new SandboxImageError(
          'digest-mismatch',
          `layer blob ${layer.blobDigest} has digest ${actual}`,
          layer.blobDigest,
          { cause: err }
        );
    }
    throw err;
  }
}

async function fileDigest(layer: SourceLayer): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of await imageFileStream(layer.root, layer.file)) h.update(chunk as Buffer);
  return sha(h);
}

/**
 * Imports an image into the store: an OCI layout or archive, a docker-save archive, or a
 * plain rootfs tarball (.tar, .tar.gz). Each layer is verified against the digests of its
 * manifest and config and unpacked once; layers already in the store cost nothing.
 * @throws {SandboxImageError} `not-found`, `format`, `digest-mismatch`, `unsafe-entry`, `too-large`.
 */
export async function importImage(store: LayerStore, path: string, options: ImportOptions = {}): Promise<ImageRecord> {
  checkLimit('maxBytes', options.maxBytes);
  checkLimit('maxEntries', options.maxEntries);
  let work: string | undefined;
  try {
    const inputBytes = statSync(path, { throwIfNoEntry: false })?.isFile() ? statSync(path).size : 0;
    const archiveLimit = { maxBytes: options.maxBytes ?? defaultImportMaxBytes(inputBytes), bytes: 0 };
    const source = await openImageSource(path, () => (work = store.tempDir('archive')), archiveLimit);
    // Every layer file is checked (a regular file inside the image) before any is read.
    const sizes = await Promise.all(source.layers.map((l) => blobSize(l)));
    const blobBytes = sizes.reduce((n, size) => n + size, 0);
    const budget: ImportBudget = {
      maxBytes: options.maxBytes ?? defaultImportMaxBytes(blobBytes),
      bytes: 0,
      maxEntries: options.maxEntries ?? DEFAULT_IMPORT_MAX_ENTRIES,
      entries: 0,
    };
    const layers: string[] = [];
    for (const [i, layer] of source.layers.entries()) {
      options.signal?.throwIfAborted();
      const totalBytes = sizes[i]!;
      const progress = (bytes: number, digest: string | null, cached: boolean, done: boolean) =>
        options.onProgress?.({ layer: i, layers: source.layers.length, digest, bytes, totalBytes, cached, done });
      // A layer in the store is reused only for a blob it was verified to come from.
      let blob: string | undefined;
      const reusable = async (diffId: string) => {
        if (!store.hasLayer(diffId)) return false;
        blob ??= await fileDigest(layer);
        if (layer.blobDigest && blob !== layer.blobDigest)
          throw new SandboxImageError(
            'digest-mismatch',
            `layer blob ${layer.blobDigest} has digest ${blob}`,
            layer.blobDigest
          );
        return store.verifiedBlobs(diffId).includes(blob);
      };
      if (layer.diffId && (await reusable(layer.diffId))) {
        layers.push(layer.diffId);
        progress(totalBytes, layer.diffId, true, true);
        continue;
      }
      let last = 0;
      const report = (bytes: number, digest: string | null) => {
        if (bytes - last >= 4 << 20) progress((last = bytes), digest, false, false);
      };
      const diffId = layer.diffId;
      const digest = diffId
        ? await store.withLock(diffId, async () =>
            (await reusable(diffId)) ? diffId : importLayer(store, layer, budget, report, options.signal)
          )
        : await importLayer(store, layer, budget, report, options.signal);
      layers.push(digest);
      progress(totalBytes, digest, false, true);
    }
    const config = parseImageConfig(source.config);
    const id = source.configDigest ?? `sha256:${createHash('sha256').update(JSON.stringify(layers)).digest('hex')}`;
    const names = [...new Set([...(options.name ? [options.name] : []), ...source.names])];
    const previous = store.list('image').find((r) => r.id === id);
    const record: ImageRecord = {
      id,
      kind: 'image',
      names: [...new Set([...(previous?.names ?? []), ...names])],
      layers,
      config,
      createdAt: previous?.createdAt ?? new Date().toISOString(),
    };
    store.writeRecord(record);
    return record;
  } finally {
    if (work) await removeTree(work);
  }
}

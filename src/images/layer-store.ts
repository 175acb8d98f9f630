import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxImageError } from '../errors/sandbox-error.js';
import { defaultStoreDir } from '../platform/state-dir.js';
import { withLock } from '../platform/file-lock.js';
import { removeTree, removeTreeSync } from '../platform/remove-tree.js';
import type { ImageConfig } from './image-config.js';
import { isSessionAlive, processStartTime } from '../platform/session.js';

/** tmp/ entries are `<prefix>-<owner pid>-<owner start ticks>-<random>`: a sweep can tell the owner died. */
const OWNED_TEMP = /-(\d+-\d+)-[0-9a-f]{8}$/;
const tempSweeps = new Map<string, Promise<number>>();

/** What the store remembers about an image (or a snapshot): its layers, bottom first. */
export interface ImageRecord {
  /** `sha256:…` of the image config (imports) or a random id (snapshots). */
  id: string;
  /** An imported image or a snapshot. */
  kind: 'image' | 'snapshot';
  /** The names it can be found by (`Image.fromStore(name)`). */
  names: string[];
  /** Layer digests, bottom layer first. */
  layers: string[];
  /** The image's config. */
  config: ImageConfig;
  /** For a snapshot: the image it was taken from (`host`, `dir:/path` or a store id). */
  base?: string;
  /** When it was stored, as an ISO 8601 timestamp. */
  createdAt: string;
}

/** @internal A layer as pushed: the blob made of it, its diff id and size, and the repositories (`host/repo`) given it. */
export interface PushedBlob {
  compression: 'gzip' | 'none';
  blob: string;
  diffId: string;
  size: number;
  repos: string[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const LOCAL = /^local:[0-9a-f]{32}$/;

/**
 * Checks a layer id and returns its directory name: the hex of a `sha256:` digest, or
 * `local-<hex>` for a snapshot layer (content not hashed until it is exported).
 * @throws {SandboxImageError} `format`.
 */
export function digestHex(digest: string): string {
  if (DIGEST.test(digest)) return digest.slice(7);
  if (LOCAL.test(digest)) return `local-${digest.slice(6)}`;
  throw new SandboxImageError('format', `not a sha256 digest: ${JSON.stringify(digest)}`, digest);
}

/** A fresh id for a snapshot layer. */
export function localLayerId(): string {
  return `local:${randomBytes(16).toString('hex')}`;
}

function layerIdOfDir(name: string): string {
  return name.startsWith('local-') ? `local:${name.slice(6)}` : `sha256:${name}`;
}

/**
 * The content-addressed layer store: `layers/<hex>/fs` holds each unpacked layer, named by the
 * sha256 of its uncompressed tar (its OCI diff id), shared by every image and snapshot that
 * uses it; `images/` and `snapshots/` hold records naming layers; `locks/<hex>/lock` the lock of a
 * layer being imported; `tmp/` work in progress, moved in place with an atomic rename.
 *
 * @example
 * const store = new LayerStore('/var/lib/sandkit/store');
 * console.log(store.list().map((r) => r.names));
 */
export class LayerStore {
  constructor(
    /** The store's directory. */
    readonly root: string = defaultStoreDir()
  ) {
    for (const d of ['layers', 'images', 'snapshots', 'locks', 'tmp'])
      mkdirSync(join(root, d), { recursive: true, mode: 0o711 });
    // The first use of a store in this process removes what crashed processes left in tmp/.
    if (!tempSweeps.has(root))
      tempSweeps.set(
        root,
        this.sweepTemp().catch(() => 0)
      );
  }

  /** @internal The sweep of tmp/ that the first use of this store in this process started. */
  firstSweep(): Promise<number> {
    return tempSweeps.get(this.root) ?? Promise.resolve(0);
  }

  /** The store at the default location (see `defaultStoreDir()`). */
  static default(): LayerStore {
    return new LayerStore(defaultStoreDir());
  }

  /** The directory of a layer's files (an overlay lower dir). */
  layerDir(digest: string): string {
    return join(this.root, 'layers', digestHex(digest), 'fs');
  }

  /** Whether the layer with this diff id is in the store. */
  hasLayer(digest: string): boolean {
    return existsSync(join(this.root, 'layers', digestHex(digest), 'layer.json'));
  }

  /**
   * The digests of the compressed blobs this layer was verified to come from: a layer is
   * reused only for a blob in this list, never for a diff id alone (an image's config could
   * name another image's diff id over any blob).
   */
  verifiedBlobs(digest: string): string[] {
    try {
      const info = JSON.parse(readFileSync(join(this.root, 'layers', digestHex(digest), 'layer.json'), 'utf8')) as {
        blobDigest?: unknown;
        blobDigests?: unknown;
      };
      const list = Array.isArray(info.blobDigests) ? info.blobDigests : [info.blobDigest];
      return list.filter((d): d is string => typeof d === 'string' && DIGEST.test(d));
    } catch {
      return [];
    }
  }

  /** Records one more blob verified to unpack to this layer (call it holding the layer's lock). */
  addVerifiedBlob(digest: string, blob: string): void {
    const file = join(this.root, 'layers', digestHex(digest), 'layer.json');
    const info = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const blobs = this.verifiedBlobs(digest);
    if (blobs.includes(blob)) return;
    info.blobDigests = [...blobs, blob].slice(-16);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(info));
    renameSync(tmp, file);
  }

  /** @internal What earlier pushes made of this layer (the layer tar as a blob), newest last. */
  pushedBlobs(digest: string): PushedBlob[] {
    try {
      const info = JSON.parse(readFileSync(join(this.root, 'layers', digestHex(digest), 'layer.json'), 'utf8')) as {
        pushed?: unknown;
      };
      if (!Array.isArray(info.pushed)) return [];
      return info.pushed.filter(
        (p): p is PushedBlob =>
          typeof p === 'object' &&
          p !== null &&
          DIGEST.test((p as PushedBlob).blob) &&
          DIGEST.test((p as PushedBlob).diffId) &&
          Number.isSafeInteger((p as PushedBlob).size) &&
          Array.isArray((p as PushedBlob).repos)
      );
    } catch {
      return [];
    }
  }

  /** @internal Remembers a push of this layer (call it holding the layer's lock). */
  recordPushed(digest: string, entry: PushedBlob): void {
    const file = join(this.root, 'layers', digestHex(digest), 'layer.json');
    const info = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const others = this.pushedBlobs(digest).filter((p) => p.blob !== entry.blob);
    const same = this.pushedBlobs(digest).find((p) => p.blob === entry.blob);
    const repos = [...new Set([...(same?.repos ?? []), ...entry.repos])].slice(-16);
    info.pushed = [...others, { ...entry, repos }].slice(-4);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(info));
    renameSync(tmp, file);
  }

  /** A fresh private directory under tmp/, for work that ends with `commitLayer` or removal. */
  tempDir(prefix: string): string {
    const dir = join(
      this.root,
      'tmp',
      `${prefix}-${process.pid}-${processStartTime(process.pid) ?? 0}-${randomBytes(4).toString('hex')}`
    );
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  }

  /**
   * Moves an unpacked layer (`dir`, holding `fs/`) in place under its digest. If another
   * process got there first, ours is discarded: both are the same content.
   */
  async commitLayer(digest: string, dir: string, info: Record<string, unknown>): Promise<void> {
    writeFileSync(join(dir, 'layer.json'), JSON.stringify({ digest, ...info, createdAt: new Date().toISOString() }));
    const final = join(this.root, 'layers', digestHex(digest));
    try {
      renameSync(dir, final);
    } catch (err) {
      if (!this.hasLayer(digest)) throw err;
      await removeTree(dir);
    }
  }

  /**
   * Runs `fn` holding the lock of one layer digest across processes (a lock whose owner died is
   * taken over). Waits while another live process holds it.
   */
  async withLock<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    const dir = join(this.root, 'locks', digestHex(digest));
    const onTimeout = () => new SandboxImageError('in-use', `layer ${digest} stayed locked by another process`, digest);
    return (await withLock(dir, fn, { create: true, timeoutMs: 600_000, onTimeout })) as T;
  }

  /** Saves an image or snapshot record (atomically). */
  writeRecord(record: ImageRecord): void {
    const file = this.recordPath(record.kind, record.id);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(record, null, 2));
    renameSync(tmp, file);
  }

  /** Every image and snapshot record. */
  list(kind?: ImageRecord['kind']): ImageRecord[] {
    const out: ImageRecord[] = [];
    for (const k of kind ? [kind] : (['image', 'snapshot'] as const)) {
      const dir = join(this.root, k === 'image' ? 'images' : 'snapshots');
      for (const name of readdirSync(dir)) {
        if (!name.endsWith('.json')) continue;
        try {
          out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as ImageRecord);
        } catch {
          // a record being written by another process
        }
      }
    }
    return out;
  }

  /**
   * Finds a record by id (`sha256:…`, or a unique prefix of its hex of at least 6 digits) or by name.
   * @throws {SandboxImageError} `not-found`.
   */
  find(ref: string): ImageRecord {
    const all = this.list();
    const hex = ref.replace(/^sha256:/, '');
    const hits = all.filter(
      (r) =>
        r.id === ref ||
        r.names.includes(ref) ||
        (hex.length >= 6 && r.id.replace(/^sha256:|^snap-/, '').startsWith(hex))
    );
    if (hits.length !== 1)
      throw new SandboxImageError(
        'not-found',
        hits.length ? `${ref} is ambiguous` : `no image or snapshot ${JSON.stringify(ref)} in ${this.root}`,
        ref
      );
    return hits[0]!;
  }

  /** Removes a record (its layers go at the next `gc()`). Returns false when there was none. */
  remove(ref: string): boolean {
    let rec: ImageRecord;
    try {
      rec = this.find(ref);
    } catch {
      return false;
    }
    removeTreeSync(this.recordPath(rec.kind, rec.id));
    return true;
  }

  /**
   * Removes every layer no image or snapshot record names, and leftovers in tmp/ older than an
   * hour. Layers locked by an import in progress are kept. Returns the digests removed.
   */
  async gc(): Promise<string[]> {
    const used = new Set(this.list().flatMap((r) => r.layers));
    const removed: string[] = [];
    for (const hex of readdirSync(join(this.root, 'layers'))) {
      const digest = layerIdOfDir(hex);
      if (used.has(digest) || existsSync(join(this.root, 'locks', hex, 'lock'))) continue;
      await removeTree(join(this.root, 'layers', hex));
      removed.push(digest);
    }
    await this.sweepTemp();
    return removed;
  }

  /**
   * Removes tmp/ entries whose owner process is gone (a kill -9 mid-import or mid-snapshot),
   * and unnamed ones older than an hour. Returns how many.
   */
  async sweepTemp(): Promise<number> {
    let swept = 0;
    for (const name of readdirSync(join(this.root, 'tmp'))) {
      const path = join(this.root, 'tmp', name);
      const owner = OWNED_TEMP.exec(name)?.[1];
      const stale =
        owner !== undefined
          ? !isSessionAlive(owner)
          : Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 3600_000;
      if (!stale) continue;
      await removeTree(path);
      swept++;
    }
    return swept;
  }

  private recordPath(kind: ImageRecord['kind'], id: string): string {
    return join(this.root, kind === 'image' ? 'images' : 'snapshots', `${id.replace(/^sha256:/, '')}.json`);
  }
}

import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { SandboxAbortedError, SandboxError, SandboxImageError, SandboxOptionsError } from '../errors/sandbox-error.js';
import { EMPTY_CONFIG, defaultCommandOf, type ImageConfig } from './image-config.js';
import { importImage, type ImportOptions } from './image-import.js';
import { LayerStore, type ImageRecord } from './layer-store.js';
import { checkStateDir, defaultStoreDir } from '../platform/state-dir.js';
import { assertOverlayPath } from '../rootfs/overlay.js';
import { hostAccountFiles, resolveHostImageOptions, type HostImageOptions } from '../rootfs/host-layer.js';
import { PULL_KEYS, pullImage, type PullOptions } from './registry/pull.js';
import { PUSH_KEYS, pushImage, type PushOptions, type PushResult } from './registry/push.js';
import { checkAuthOption } from './registry/credentials.js';
import { parsePlatform } from './registry/manifest.js';
import { parseReference } from './registry/reference.js';

/** Options of `Image.pull`: the registry options and where the store is. */
export interface ImagePullOptions extends PullOptions, StoreOptions {}

/** What an image contributes to a sandbox's root: overlay lower layers (top first) and host system directories. */
export interface ImageLayers {
  lowerDirs: string[];
  /** Host directories shown read-only at the same path (the host image's /usr, /lib*...). */
  systemDirs: string[];
}

/** Resolves an image into layers; `hostLayer` gives the session's host layer on demand. */
export interface ImageContext {
  hostLayer(): { dir: string; binds: string[] };
}

/** Where the layer store is. */
export interface StoreOptions {
  /** A `LayerStore` or its directory. @defaultValue `defaultStoreDir()` */
  store?: LayerStore | string;
}

/** Options of `Image.fromOCI` and the other importers. */
export interface ImageImportOptions extends ImportOptions, StoreOptions {
  /** Aborting stops the import (between reads), removes what it unpacked and rejects with `SandboxAbortedError`. */
  signal?: AbortSignal;
}

/** @internal how an image is made: the host, a directory, or layers in the store over an optional base. */
export type ImageSource =
  | { kind: 'host'; accounts?: HostImageOptions }
  | { kind: 'directory'; path: string }
  | { kind: 'store'; record: ImageRecord; store: LayerStore; ownLayers: string[]; base?: Image };

/**
 * The store named by options (a LayerStore, an absolute directory, or the default).
 * @throws {SandboxOptionsError} for options that are not an object, or a store that is neither.
 */
export function storeOf(options: StoreOptions = {}, known?: readonly string[]): LayerStore {
  checkOptionsObject(options, known);
  const store = options.store;
  if (store instanceof LayerStore) return store;
  if (store === undefined) {
    const dir = defaultStoreDir();
    checkStateDir(dir, dir === process.env.SANDKIT_STORE_DIR ? 'SANDKIT_STORE_DIR' : 'store');
    return new LayerStore(dir);
  }
  checkStoreOption(store);
  checkStateDir(store, 'store');
  return new LayerStore(store);
}

/** A `store` option must be a LayerStore or an absolute directory (never relative to the cwd). */
export function checkStoreOption(store: unknown): void {
  if (store === undefined || store instanceof LayerStore) return;
  if (typeof store !== 'string' || !isAbsolute(store) || store.includes('\0')) {
    throw new SandboxOptionsError(
      'store',
      `expected a LayerStore or an absolute directory, got ${describeValue(store)} (a relative path would depend on the working directory)`
    );
  }
  assertOverlayPath('store', store);
}

/** Throws unless `options` is a plain object (whose keys are all in `known`, when given). */
function checkOptionsObject(options: unknown, known?: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new SandboxOptionsError('options', `expected an object, got ${describeValue(options)}`);
  if (known)
    for (const key of Object.keys(options))
      if (!known.includes(key)) throw new SandboxOptionsError(key, `unknown option (expected ${known.join(', ')})`);
}

function checkPathArg(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.includes('\0'))
    throw new SandboxOptionsError(field, `expected a path, got ${describeValue(value)}`);
  return value;
}

function checkRefArg(value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > 4096 || value.includes('\0'))
    throw new SandboxOptionsError('ref', `expected an image name or id, got ${describeValue(value)}`);
  return value;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

const IMPORT_KEYS = ['store', 'name', 'onProgress', 'signal', 'maxBytes', 'maxEntries'];
const STORE_KEYS = ['store'];

function checkImportOptions(options: ImageImportOptions): void {
  checkOptionsObject(options, IMPORT_KEYS);
  if (
    options.name !== undefined &&
    (typeof options.name !== 'string' || !options.name || options.name.length > 256 || /[\0\n]/.test(options.name))
  ) {
    throw new SandboxOptionsError(
      'name',
      `expected a non-empty name of at most 256 characters, got ${describeValue(options.name)}`
    );
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new SandboxOptionsError('onProgress', 'expected a function');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new SandboxOptionsError('signal', 'expected an AbortSignal');
  for (const key of ['maxBytes', 'maxEntries'] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isSafeInteger(v) && v > 0))
      throw new SandboxOptionsError(key, `expected a positive whole number, got ${describeValue(v)}`);
  }
}

function checkRegistryOptions(given: PullOptions | PushOptions, keys: string[]): void {
  checkOptionsObject(given, keys);
  const options = given as Omit<PullOptions, 'onProgress'> & Omit<PushOptions, 'onProgress'> & { onProgress?: unknown };
  checkAuthOption(options.auth);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new SandboxOptionsError('onProgress', 'expected a function');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new SandboxOptionsError('signal', 'expected an AbortSignal');
  if (options.insecure !== undefined && typeof options.insecure !== 'boolean')
    throw new SandboxOptionsError('insecure', `expected a boolean, got ${describeValue(options.insecure)}`);
  if (options.platform !== undefined) parsePlatform(options.platform);
  if (options.compression !== undefined && options.compression !== 'gzip' && options.compression !== 'none')
    throw new SandboxOptionsError(
      'compression',
      `expected 'gzip' or 'none', got ${describeValue(options.compression)}`
    );
  if (
    options.name !== undefined &&
    (typeof options.name !== 'string' || !options.name || options.name.length > 256 || /[\0\n]/.test(options.name))
  )
    throw new SandboxOptionsError(
      'name',
      `expected a non-empty name of at most 256 characters, got ${describeValue(options.name)}`
    );
  for (const key of ['maxBytes', 'maxEntries', 'concurrency', 'attempts', 'chunkSize'] as const) {
    const v = options[key as keyof typeof options];
    if (
      v !== undefined &&
      !(Number.isSafeInteger(v) && (v as number) > 0 && (key !== 'concurrency' || (v as number) <= 64))
    )
      throw new SandboxOptionsError(key, `expected a positive whole number, got ${describeValue(v)}`);
  }
}

/** Runs a registry call and keeps its failures in the contract: every one a SandboxError. */
async function registryCall<T>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  const aborted = () => new SandboxAbortedError(`${what}: aborted`, { cause: signal?.reason });
  if (signal?.aborted) throw aborted();
  try {
    return await run();
  } catch (err) {
    if (signal?.aborted) throw aborted();
    if (err instanceof SandboxError) throw err;
    throw importFailure(what, err);
  }
}

/** Runs an import and keeps its failures in the contract: every one a SandboxError. */
async function imported(
  path: string,
  options: ImageImportOptions,
  run: () => Promise<ImageRecord>
): Promise<ImageRecord> {
  const aborted = () => new SandboxAbortedError(`image import aborted: ${path}`, { cause: options.signal?.reason });
  if (options.signal?.aborted) throw aborted();
  try {
    return await run(); // finished before the abort was noticed: the image is in the store
  } catch (err) {
    if (options.signal?.aborted) throw aborted();
    if (err instanceof SandboxError) throw err;
    throw importFailure(path, err);
  }
}

/** A raw failure of an import (zlib, JSON, a system call) as the SandboxImageError it is. */
function importFailure(path: string, err: unknown): SandboxImageError {
  const e = err as NodeJS.ErrnoException;
  const message = e?.message ?? String(err);
  if (e?.code === 'ENOENT') return new SandboxImageError('not-found', `${path}: ${message}`, path, { cause: err });
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) && typeof e.syscall === 'string') {
    return new SandboxImageError('io', `${path}: ${message}`, path, { cause: err });
  }
  // zlib's Z_DATA_ERROR, JSON.parse's SyntaxError, a truncated stream: the content is broken.
  return new SandboxImageError('format', `${path} is not a valid image (${message})`, path, { cause: err });
}

/**
 * The read-only base of a sandbox's root filesystem. Every sandbox stacks a private writable
 * layer on top, so nothing a program writes reaches the image.
 *
 * @example
 * new Sandbox({ image: Image.fromDirectory('./rootfs') });
 * const py = await Image.fromOCI('./python-3.12.oci.tar', { name: 'python' });
 * await new Sandbox({ image: py }).run(py.defaultCommand(['-c', 'print(1)']));
 */
export class Image {
  protected constructor(protected readonly source: ImageSource) {}

  /**
   * The host's own system, read-only: `/usr`, `/bin`, `/sbin`, `/lib*` and a filtered copy of
   * `/etc` (no shadow files or private keys, and not the host's accounts: `/etc/passwd` and
   * `/etc/group` list root and nobody, plus the `users` and `groups` given). `/root`, `/home`,
   * `/var` and `/run` are empty. This is the default image.
   * @example new Sandbox({ image: Image.host({ users: [{ name: 'judge', uid: 1000 }], groups: [{ name: 'judge', gid: 1000 }] }) });
   * @throws {SandboxOptionsError} naming the account field that is wrong.
   */
  static host(options?: HostImageOptions): Image {
    const accounts = resolveHostImageOptions(options);
    return new Image(accounts ? { kind: 'host', accounts } : { kind: 'host' });
  }

  /** @internal /etc/passwd and /etc/group for the sandbox's top layer, when a host image lists accounts of its own. */
  get accountFiles(): { passwd: string; group: string } | undefined {
    return this.source.kind === 'host' && this.source.accounts ? hostAccountFiles(this.source.accounts) : undefined;
  }

  /**
   * A directory holding a root filesystem (as made by debootstrap, or an unpacked image).
   * @throws {SandboxOptionsError} when the path is not a directory or cannot be used in an overlay.
   */
  static fromDirectory(path: string): Image {
    const abs = resolve(checkPathArg('path', path));
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new SandboxOptionsError('image', `${abs} is not a directory`);
    assertOverlayPath('image', abs);
    return new Image({ kind: 'directory', path: abs });
  }

  /**
   * Imports an image into the layer store and returns it: an OCI archive (`.oci.tar`), an OCI
   * image layout directory, a `docker save` archive or a plain rootfs tarball (`.tar`,
   * `.tar.gz`) — the format is recognised from the content. Layers are verified against their
   * digests; layers already in the store are not read again.
   * @example const img = await Image.fromOCI('./alpine.oci.tar', { onProgress: (p) => console.log(p.bytes) });
   * @throws {SandboxImageError} `not-found`, `format`, `digest-mismatch`, `unsafe-entry`, `unsupported`, `io`;
   * {@link SandboxOptionsError} for a bad argument; {@link SandboxAbortedError} when `signal` aborts.
   */
  static async fromOCI(path: string, options: ImageImportOptions = {}): Promise<Image> {
    const abs = resolve(checkPathArg('path', path));
    checkImportOptions(options);
    const store = storeOf(options, IMPORT_KEYS);
    const record = await imported(abs, options, async () => {
      const st = statSync(abs, { throwIfNoEntry: false });
      // A device or FIFO would be read as an endless or empty archive (and a FIFO never ends).
      if (st && !st.isFile() && !st.isDirectory())
        throw new SandboxImageError('format', `${abs} is neither a file nor a directory`, abs);
      if (st?.isFile() && st.size === 0)
        throw new SandboxImageError('format', `${abs} is an empty file, not an image`, abs);
      return importImage(store, abs, options);
    });
    return Image.fromRecord(record, store);
  }

  /** The same as {@link Image.fromOCI}, for a `docker save` archive. @throws {SandboxImageError} */
  static fromDocker(path: string, options: ImageImportOptions = {}): Promise<Image> {
    return Image.fromOCI(path, options);
  }

  /** The same as {@link Image.fromOCI}, for a plain rootfs tarball (one layer). @throws {SandboxImageError} */
  static fromTar(path: string, options: ImageImportOptions = {}): Promise<Image> {
    return Image.fromOCI(path, options);
  }

  /**
   * Pulls an image from a registry over the OCI distribution API and returns it. References
   * are read as Docker reads them (`python:3.12-slim` is `docker.io/library/python:3.12-slim`,
   * `ghcr.io/org/app@sha256:…`); a multi-platform image gives this machine's `linux/<arch>`
   * entry (or `platform`'s), and none matching is an error, never another platform's image.
   * Layers download concurrently into the store, each verified against its digest before it
   * is unpacked; layers the store has from the same blob are not downloaded again. The image
   * is found later by the reference (`Image.fromStore('python:3.12-slim')`).
   * @example const py = await Image.pull('python:3.12-slim', { onProgress: (p) => console.log(p.layer, p.bytes) });
   * @throws {SandboxRegistryError} `auth`, `denied`, `not-found`, `platform`, `unavailable`, `protocol`, `insecure`, `too-large`;
   * {@link SandboxImageError} `digest-mismatch`, `format`, `unsupported`, `unsafe-entry`, `too-large`;
   * {@link SandboxOptionsError} for a bad reference or option; {@link SandboxAbortedError} when `signal` aborts.
   */
  static async pull(ref: string, options: ImagePullOptions = {}): Promise<Image> {
    checkRefArg(ref);
    checkRegistryOptions(options, PULL_KEYS);
    parseReference(ref);
    const store = storeOf(options, PULL_KEYS);
    const record = await registryCall(`pull ${ref}`, options.signal, () => pullImage(store, ref, options));
    return Image.fromRecord(record, store);
  }

  /**
   * Pushes this image (an imported image, a snapshot, or a directory image) to a registry as an
   * OCI image: its layers as tars (gzipped unless `compression: 'none'`) with whiteouts, opaque
   * directories, owners, modes and xattrs, blobs the registry has skipped (HEAD), blobs of an
   * earlier push to another repository of the same registry mounted, then the config and the
   * manifest under the reference's tag. A host image cannot be pushed (its base is the host).
   * @example const { digest } = await Image.fromStore('judge').push('registry.local:5000/judge:2026');
   * @throws {SandboxRegistryError}, {@link SandboxImageError} `unsupported` for a host image,
   * {@link SandboxOptionsError}, {@link SandboxAbortedError}.
   */
  async push(ref: string, options: PushOptions = {}): Promise<PushResult> {
    checkRefArg(ref);
    checkRegistryOptions(options, PUSH_KEYS);
    parseReference(ref);
    const { layers, base } = this.stack;
    const store = this.layerStore ?? storeOf();
    const dirs: Array<{ dir: string; id?: string }> = layers.map((id) => ({ dir: store.layerDir(id), id }));
    if (base?.kind === 'directory')
      dirs.unshift({ dir: base.layers({ hostLayer: () => ({ dir: '', binds: [] }) }).lowerDirs[0]! });
    else if (base)
      throw new SandboxImageError(
        'unsupported',
        `${this.toString()} cannot be pushed: its base is the host system, not layers`,
        this.toString()
      );
    return registryCall(`push ${ref}`, options.signal, () =>
      pushImage({ store, layers: dirs, config: this.config }, ref, options)
    );
  }

  /**
   * An image or snapshot already in the store, by name, id (`sha256:…`) or an id prefix.
   * @example const img = Image.fromStore('python');
   * @throws {SandboxImageError} `not-found` when there is none, or the ref is ambiguous.
   */
  static fromStore(ref: string, options: StoreOptions = {}): Image {
    checkRefArg(ref);
    const store = storeOf(options, STORE_KEYS);
    return Image.fromRecord(store.find(ref), store);
  }

  /** Records of every image and snapshot in the store. */
  static list(options: StoreOptions = {}): ImageRecord[] {
    return storeOf(options, STORE_KEYS).list();
  }

  /** Forgets an image or snapshot record; its layers go at the next `gc()`. Returns false when unknown. */
  static remove(ref: string, options: StoreOptions = {}): boolean {
    checkRefArg(ref);
    return storeOf(options, STORE_KEYS).remove(ref);
  }

  /**
   * Removes every layer of the store that no image or snapshot record references.
   * @example const removed = await Image.gc();
   * @returns the layer ids removed.
   */
  static async gc(options: StoreOptions = {}): Promise<string[]> {
    return storeOf(options, STORE_KEYS).gc();
  }

  /** @internal an image for a store record; a snapshot of a host or directory image gets that base back. */
  static fromRecord(record: ImageRecord, store: LayerStore): Image {
    return new Image({ kind: 'store', record, store, ownLayers: record.layers, base: baseOf(record) });
  }

  /** @internal the store this image's layers live in, if any. */
  get layerStore(): LayerStore | undefined {
    return this.source.kind === 'store' ? this.source.store : undefined;
  }

  /** @internal the image as a stack: store layers (bottom first) over a host or directory base. */
  get stack(): { layers: string[]; base: Image | undefined; record: ImageRecord | undefined } {
    const s = this.source;
    return s.kind === 'store'
      ? { layers: s.ownLayers, base: s.base, record: s.record }
      : { layers: [], base: this, record: undefined };
  }

  /** `'host'`, `'directory'` or `'store'` (imported images and snapshots). */
  get kind(): ImageSource['kind'] {
    return this.source.kind;
  }

  /** The store id (`sha256:…` for imported images), or undefined for host and directory images. */
  get id(): string | undefined {
    return this.source.kind === 'store' ? this.source.record.id : undefined;
  }

  /** The image config's defaults for spawns (empty for host and directory images). */
  get config(): ImageConfig {
    return this.source.kind === 'store' ? this.source.record.config : EMPTY_CONFIG;
  }

  /**
   * The image's default command (Entrypoint + Cmd); `extra` replaces Cmd, as `docker run image extra…` does.
   * @example await sandbox.run(image.defaultCommand(['--version']));
   */
  defaultCommand(extra: readonly string[] = []): string[] {
    return defaultCommandOf(this.config, extra);
  }

  /** A short description for logs and the CLI. */
  toString(): string {
    const s = this.source;
    return s.kind === 'host'
      ? 'host'
      : s.kind === 'directory'
        ? `dir:${s.path}`
        : `${s.record.kind}:${s.record.names[0] ?? s.record.id}`;
  }

  /** @internal */
  layers(ctx: ImageContext): ImageLayers {
    const s = this.source;
    if (s.kind === 'directory') return { lowerDirs: [s.path], systemDirs: [] };
    if (s.kind === 'store') {
      const own = [...s.ownLayers].reverse().map((d) => s.store.layerDir(d));
      const below = s.base?.layers(ctx) ?? { lowerDirs: [], systemDirs: [] };
      return { lowerDirs: [...own, ...below.lowerDirs], systemDirs: below.systemDirs };
    }
    const host = ctx.hostLayer();
    return { lowerDirs: [host.dir], systemDirs: host.binds };
  }
}

function baseOf(record: ImageRecord): Image | undefined {
  if (record.base === 'host') return Image.host();
  if (record.base?.startsWith('dir:')) return Image.fromDirectory(record.base.slice(4));
  return undefined;
}

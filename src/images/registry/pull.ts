import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SandboxAbortedError,
  SandboxError,
  SandboxImageError,
  SandboxRegistryError,
} from '../../errors/sandbox-error.js';
import { removeTree } from '../../platform/remove-tree.js';
import { parseImageConfig } from '../image-config.js';
import {
  DEFAULT_IMPORT_MAX_ENTRIES,
  defaultImportMaxBytes,
  importLayer,
  type ImportBudget,
  type ImportProgress,
} from '../image-import.js';
import type { ImageRecord, LayerStore } from '../layer-store.js';
import { RegistryClient, networkReason, readBounded, type ClientOptions } from './client.js';
import { checkAuthOption, credentialsFor, type RegistryAuth } from './credentials.js';
import {
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  choosePlatform,
  formatPlatform,
  hostPlatform,
  imageManifest,
  indexEntries,
  layerCompression,
  manifestKind,
  parseJson,
  parsePlatform,
  sha256,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from './manifest.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';

/** Progress of a pull: per layer, as it downloads (`phase: 'download'`) and unpacks. */
export interface PullProgress extends ImportProgress {
  /** What the layer is doing: downloading its blob, or unpacking it into the store. */
  phase: 'download' | 'unpack';
  /** The blob's digest (as the manifest names it). */
  blob: string;
}

/** Options of `Image.pull`. */
export interface PullOptions {
  /** Called as layers download and unpack (a few times per MiB at most). */
  onProgress?: (progress: PullProgress) => void;
  /** Aborting stops the pull and removes every partial download and layer. */
  signal?: AbortSignal;
  /** `os/arch[/variant]` of the image to take from a multi-platform index. @defaultValue this machine's, `linux/<process.arch>` */
  platform?: string;
  /** Credentials; else the entry for the registry in `REGISTRY_AUTH_FILE` or `~/.docker/config.json`, else none. */
  auth?: RegistryAuth;
  /** Allow plain HTTP to a registry that is not on loopback (loopback registries may always use it). */
  insecure?: boolean;
  /** Another name to find the image by (besides the reference itself). */
  name?: string;
  /** Layers downloaded at once. @defaultValue 3 */
  concurrency?: number;
  /** Attempts per request before a transient failure is final. @defaultValue 5 */
  attempts?: number;
  /** Most bytes the image may unpack to (all layers), and the largest blob accepted. @defaultValue as `Image.fromOCI` */
  maxBytes?: number;
  /** Most tar entries in all layers together. @defaultValue 1,000,000 */
  maxEntries?: number;
}

/** The option keys of `Image.pull`. */
export const PULL_KEYS = [
  'onProgress',
  'signal',
  'platform',
  'auth',
  'insecure',
  'name',
  'concurrency',
  'attempts',
  'maxBytes',
  'maxEntries',
  'store',
];

/** Runs `fn` over items with at most `limit` at once; the first failure stops new starts and is thrown. */
export async function eachLimited<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.err;
  return out;
}

/** A manifest fetched and checked against its digest: its bytes, kind and digest. */
interface FetchedManifest {
  json: Record<string, unknown>;
  kind: 'index' | 'manifest' | 'other';
  digest: string;
}

async function fetchManifest(
  client: RegistryClient,
  ref: ImageReference,
  reference: string,
  expected?: Descriptor
): Promise<FetchedManifest> {
  const what = `manifest ${ref.repository}:${reference}`;
  const res = await client.send({
    method: 'GET',
    url: `/v2/${ref.repository}/manifests/${reference}`,
    scopes: [`repository:${ref.repository}:pull`],
    headers: { accept: MANIFEST_ACCEPT },
    expect: [200],
    what,
  });
  const body = await readBounded(res, MAX_MANIFEST_BYTES, () =>
    client.fail('too-large', `${what} is larger than ${MAX_MANIFEST_BYTES} bytes`)
  );
  const digest = sha256(body);
  const byDigest = reference.startsWith('sha256:');
  if (byDigest && digest !== reference)
    throw new SandboxImageError('digest-mismatch', `${what} has digest ${digest}`, reference);
  if (expected && body.length !== expected.size)
    throw new SandboxImageError(
      'digest-mismatch',
      `${what} is ${body.length} bytes, its index says ${expected.size}`,
      reference
    );
  const header = res.headers.get('docker-content-digest');
  if (!byDigest && header?.startsWith('sha256:') && header !== digest)
    throw new SandboxImageError('digest-mismatch', `${what} has digest ${digest}, the registry says ${header}`, header);
  const json = parseJson(body, what);
  return { json, kind: manifestKind(json, res.headers.get('content-type')), digest };
}

/** Resolves a reference to one image manifest for the platform: through an index when there is one. */
async function resolveManifest(
  client: RegistryClient,
  ref: ImageReference,
  platform: Platform
): Promise<{ manifest: ImageManifest; digest: string; fromIndex: boolean }> {
  let m = await fetchManifest(client, ref, ref.digest ?? ref.tag!);
  let fromIndex = false;
  if (m.kind === 'index') {
    const entries = indexEntries(m.json, `index ${ref.repository}@${m.digest}`);
    const pick = choosePlatform(entries, platform);
    if (!pick) {
      const available = entries
        .filter((e) => e.platform && e.platform.os !== 'unknown')
        .map((e) => formatPlatform(e.platform!));
      throw client.fail(
        'platform',
        `${formatReference(ref)} has no image for ${formatPlatform(platform)} (it has ${available.join(', ') || 'no platform entries'}); pass platform to choose one`,
        { available }
      );
    }
    m = await fetchManifest(client, ref, pick.digest, pick);
    fromIndex = true;
    if (m.kind === 'index')
      throw new SandboxImageError('format', `${ref.repository}@${pick.digest}: an index inside an index`, pick.digest);
  }
  if (m.kind !== 'manifest')
    throw new SandboxImageError(
      'unsupported',
      `${formatReference(ref)}: the manifest is neither an OCI image manifest nor a Docker v2 one (schema 1 and other kinds are not supported)`,
      m.digest
    );
  return { manifest: imageManifest(m.json, `manifest ${m.digest}`), digest: m.digest, fromIndex };
}

/** A small blob (the config) fetched whole and checked. */
async function fetchSmallBlob(client: RegistryClient, ref: ImageReference, d: Descriptor): Promise<Buffer> {
  if (d.size > MAX_MANIFEST_BYTES)
    throw client.fail('too-large', `config ${d.digest} is ${d.size} bytes (at most ${MAX_MANIFEST_BYTES})`);
  const res = await client.send({
    method: 'GET',
    url: `/v2/${ref.repository}/blobs/${d.digest}`,
    scopes: [`repository:${ref.repository}:pull`],
    expect: [200],
    what: `config ${d.digest}`,
  });
  const body = await readBounded(res, MAX_MANIFEST_BYTES, () =>
    client.fail('too-large', `config ${d.digest} is larger than ${MAX_MANIFEST_BYTES} bytes`)
  );
  const digest = sha256(body);
  if (digest !== d.digest)
    throw new SandboxImageError('digest-mismatch', `config ${d.digest} has digest ${digest}`, d.digest);
  return body;
}

/**
 * Downloads a blob to `file`, hashing as it arrives; a connection that breaks mid-blob is
 * retried from where it stopped (a Range request, or from the start when the registry ignores
 * it). Resolves only when the file holds exactly the blob the descriptor names.
 * @throws {SandboxImageError} `digest-mismatch` (content or size); {@link SandboxRegistryError} `unavailable`.
 */
async function downloadBlob(
  client: RegistryClient,
  ref: ImageReference,
  d: Descriptor,
  file: string,
  attempts: number,
  onBytes: (n: number) => void,
  signal?: AbortSignal
): Promise<void> {
  const fh = await open(file, 'w', 0o600);
  let hash: Hash = createHash('sha256');
  let have = 0;
  // Chunks are written in batches of about 1 MiB: one write per network chunk costs more than the download.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const batch = Buffer.concat(pending, pendingBytes);
    const at = have - pendingBytes;
    pending = [];
    pendingBytes = 0;
    await fh.write(batch, 0, batch.length, at);
  };
  const what = `blob ${d.digest}`;
  try {
    for (let attempt = 1; ; attempt++) {
      const res = await client.send({
        method: 'GET',
        url: `/v2/${ref.repository}/blobs/${d.digest}`,
        scopes: [`repository:${ref.repository}:pull`],
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
        expect: [200, 206],
        what,
      });
      const start =
        res.status === 206 ? Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN) : 0;
      if (start !== have) {
        // The registry started somewhere else: begin again from zero.
        if (res.status === 206) {
          await res.body?.cancel().catch(() => {});
          if (attempt >= attempts)
            throw client.fail('protocol', `${what}: answers a range request from the wrong offset`);
          have = 0;
          hash = createHash('sha256');
          await fh.truncate(0);
          continue;
        }
        have = 0;
        hash = createHash('sha256');
        await fh.truncate(0);
      }
      try {
        if (res.body)
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            if (have + chunk.length > d.size)
              throw new SandboxImageError(
                'digest-mismatch',
                `${what} is larger than the ${d.size} bytes its manifest gives`,
                d.digest
              );
            hash.update(chunk);
            pending.push(chunk);
            pendingBytes += chunk.length;
            have += chunk.length;
            if (pendingBytes >= 1 << 20) await flush();
            onBytes(have);
          }
        await flush();
      } catch (err) {
        if (signal?.aborted) throw new SandboxAbortedError(`pull: aborted`, { cause: signal.reason });
        // What arrived before the break was hashed: it goes in the file, and the retry asks for the rest.
        if (!(err instanceof SandboxError) || err instanceof SandboxRegistryError) await flush();
        if (err instanceof SandboxError) throw err;
        if (attempt < attempts) {
          await client.backoff(attempt);
          continue;
        }
        throw client.fail(
          'unavailable',
          `${what}: the connection broke after ${have} of ${d.size} bytes, ${attempts} times (${networkReason(err)})`,
          { cause: err }
        );
      }
      if (have < d.size && attempt < attempts) {
        // A body that ended early without an error: ask for the rest.
        await client.backoff(attempt);
        continue;
      }
      break;
    }
  } finally {
    await fh.close();
  }
  if (have !== d.size)
    throw new SandboxImageError('digest-mismatch', `${what} is ${have} bytes, its manifest gives ${d.size}`, d.digest);
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== d.digest) throw new SandboxImageError('digest-mismatch', `${what} has digest ${digest}`, d.digest);
}

function checkDiffIds(config: Record<string, unknown>, layers: number, what: string): string[] {
  const rootfs = config.rootfs as { diff_ids?: unknown } | undefined;
  const ids = rootfs?.diff_ids;
  if (
    !Array.isArray(ids) ||
    ids.length !== layers ||
    ids.some((d) => typeof d !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d))
  )
    throw new SandboxImageError('format', `${what}: rootfs.diff_ids does not list one sha256 digest per layer`, what);
  return ids as string[];
}

/** Whether the layer is in the store, verified to come from this very blob. */
function cachedLayer(store: LayerStore, diffId: string, blob: string): boolean {
  return store.hasLayer(diffId) && store.verifiedBlobs(diffId).includes(blob);
}

/** Names the new image takes: taken away from any other image that had them (a tag moved). */
function claimNames(store: LayerStore, id: string, names: string[]): string[] {
  for (const r of store.list('image')) {
    if (r.id === id || !r.names.some((n) => names.includes(n))) continue;
    store.writeRecord({ ...r, names: r.names.filter((n) => !names.includes(n)) });
  }
  const previous = store.list('image').find((r) => r.id === id);
  return [...new Set([...(previous?.names ?? []), ...names])];
}

/**
 * Pulls an image from a registry into the store: resolves the reference (through a
 * multi-platform index to this platform's entry), fetches and checks the config, then the
 * layers — at most `concurrency` at once, each downloaded into the store's tmp/ while hashed,
 * verified against its digest, and only then unpacked through the import's hardened path
 * (and checked again against its diff id). Layers already in the store from the same blob are
 * not downloaded; concurrent pulls of a layer (any process) wait on its lock and share it.
 * @throws {SandboxRegistryError}, {@link SandboxImageError}, {@link SandboxAbortedError}.
 */
export async function pullImage(store: LayerStore, refString: string, options: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(refString);
  const platform = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();
  const auth = checkAuthOption(options.auth) ?? credentialsFor(ref.registry);
  const attempts = options.attempts ?? 5;
  const clientOptions: ClientOptions = {
    ...(auth ? { auth } : {}),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    attempts,
  };
  const client = new RegistryClient(ref, clientOptions);
  const { manifest, digest, fromIndex } = await resolveManifest(client, ref, platform);
  const configBody = await fetchSmallBlob(client, ref, manifest.config);
  const configJson = parseJson(configBody, `config ${manifest.config.digest}`);
  if (!fromIndex && typeof configJson.architecture === 'string' && typeof configJson.os === 'string') {
    const has = { os: configJson.os, architecture: configJson.architecture };
    if (has.os !== platform.os || has.architecture !== platform.architecture)
      throw client.fail(
        'platform',
        `${formatReference(ref)} is an image for ${formatPlatform(has)}, not ${formatPlatform(platform)}; pass platform: '${formatPlatform(has)}' to pull it anyway`,
        { available: [formatPlatform(has)] }
      );
  }
  const diffIds = checkDiffIds(configJson, manifest.layers.length, `config ${manifest.config.digest}`);
  const blobBytes = manifest.layers.reduce((n, l) => n + l.size, 0);
  const budget: ImportBudget = {
    maxBytes: options.maxBytes ?? defaultImportMaxBytes(blobBytes),
    bytes: 0,
    maxEntries: options.maxEntries ?? DEFAULT_IMPORT_MAX_ENTRIES,
    entries: 0,
  };
  for (const l of manifest.layers) {
    layerCompression(l); // an unknown media type is refused before any download
    if (l.size > budget.maxBytes)
      throw client.fail('too-large', `layer ${l.digest} is ${l.size} bytes, more than maxBytes (${budget.maxBytes})`);
    if (l.urls?.length && l.mediaType.includes('foreign'))
      throw new SandboxImageError(
        'unsupported',
        `layer ${l.digest} is a foreign layer (fetched from ${l.urls.length} outside URL(s)), not from the registry`,
        l.digest
      );
  }
  const layers = manifest.layers.length;
  const layerDigests = await eachLimited(manifest.layers, Math.max(1, options.concurrency ?? 3), async (desc, i) => {
    const diffId = diffIds[i]!;
    const progress = (phase: PullProgress['phase'], bytes: number, cached: boolean, done: boolean) =>
      options.onProgress?.({
        layer: i,
        layers,
        digest: diffId,
        blob: desc.digest,
        bytes,
        totalBytes: desc.size,
        cached,
        done,
        phase,
      });
    if (cachedLayer(store, diffId, desc.digest)) {
      progress('download', desc.size, true, true);
      return diffId;
    }
    return store.withLock(diffId, async () => {
      if (cachedLayer(store, diffId, desc.digest)) {
        progress('download', desc.size, true, true);
        return diffId;
      }
      options.signal?.throwIfAborted();
      const dir = store.tempDir('pull');
      try {
        let last = -1;
        let lastAt = 0;
        await downloadBlob(
          client,
          ref,
          desc,
          join(dir, 'blob'),
          attempts,
          (n) => {
            const now = Date.now();
            if (n - last >= 1 << 20 || now - lastAt >= 200) {
              last = n;
              lastAt = now;
              progress('download', n, false, false);
            }
          },
          options.signal
        );
        progress('unpack', desc.size, false, false);
        const got = await importLayer(
          store,
          { file: join(dir, 'blob'), root: dir, blobDigest: desc.digest, diffId },
          budget,
          () => {},
          options.signal
        );
        progress('unpack', desc.size, false, true);
        return got;
      } finally {
        await removeTree(dir);
      }
    });
  });
  const config = parseImageConfig(configJson);
  const full = formatReference(ref);
  const names = [
    ...(options.name ? [options.name] : []),
    refString,
    full,
    ...(ref.tag !== undefined ? [`${ref.registry}/${ref.repository}@${digest}`] : []),
  ];
  const record: ImageRecord = {
    id: manifest.config.digest,
    kind: 'image',
    names: claimNames(store, manifest.config.digest, [...new Set(names)]),
    layers: layerDigests,
    config,
    createdAt: store.list('image').find((r) => r.id === manifest.config.digest)?.createdAt ?? new Date().toISOString(),
  };
  store.writeRecord(record);
  return record;
}

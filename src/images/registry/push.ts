import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { SandboxImageError } from '../../errors/sandbox-error.js';
import { HostFsOps } from '../../helper/host-fsops.js';
import { removeTree } from '../../platform/remove-tree.js';
import { ociConfigBlob, type ImageConfig } from '../image-config.js';
import { writeLayerTar } from '../layer-tar.js';
import type { LayerStore, PushedBlob } from '../layer-store.js';
import { RegistryClient } from './client.js';
import { checkAuthOption, credentialsFor, type RegistryAuth } from './credentials.js';
import { OCI_CONFIG, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST, hostPlatform, sha256 } from './manifest.js';
import { eachLimited } from './pull.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';

/** Progress of a push, per layer: making its blob, uploading it, or finding the registry has it. */
export interface PushProgress {
  /** Index of the layer (0 = bottom). */
  layer: number;
  /** How many layers the image has. */
  layers: number;
  /** `tar`: writing the layer as a blob; `upload`: sending it; `exists`: the registry had it; `mounted`: taken from another repository. */
  phase: 'tar' | 'upload' | 'exists' | 'mounted';
  /** The blob's digest, once known. */
  blob: string | null;
  /** Bytes sent so far. */
  bytes: number;
  /** The blob's size, once known. */
  totalBytes: number;
  /** True on the layer's last report. */
  done: boolean;
}

/** Options of `image.push()` and `snapshot.push()`. */
export interface PushOptions {
  /** Credentials; else the entry for the registry in `REGISTRY_AUTH_FILE` or `~/.docker/config.json`, else none. */
  auth?: RegistryAuth;
  /** Allow plain HTTP to a registry that is not on loopback. */
  insecure?: boolean;
  /** Aborting stops the push (what was uploaded stays in the registry, unreferenced). */
  signal?: AbortSignal;
  /** Called as layers are written and uploaded. */
  onProgress?: (progress: PushProgress) => void;
  /** Layers are gzipped (the default) or sent as plain tars. @defaultValue 'gzip' */
  compression?: 'gzip' | 'none';
  /** Blobs larger than this go in chunks of this size (PATCH), smaller ones in one PUT. @defaultValue 16 MiB */
  chunkSize?: number;
  /** Layers uploaded at once. @defaultValue 3 */
  concurrency?: number;
  /** Attempts per request before a transient failure is final. @defaultValue 5 */
  attempts?: number;
  /** Most bytes the layer tars may take together. @defaultValue 16 GiB */
  maxBytes?: number;
}

/** The option keys of `push`. */
export const PUSH_KEYS = [
  'auth',
  'insecure',
  'signal',
  'onProgress',
  'compression',
  'chunkSize',
  'concurrency',
  'attempts',
  'maxBytes',
];

/** One layer of a push: its blob and what happened to it. */
export interface PushedLayer {
  /** The blob's digest (as the manifest names it). */
  blob: string;
  /** The digest of the layer's tar (the config's diff id). */
  diffId: string;
  /** The blob's size in bytes. */
  size: number;
  /** Sent now, found in the registry already, or mounted from another repository. */
  sent: 'uploaded' | 'exists' | 'mounted';
}

/** What a push sent. */
export interface PushResult {
  /** The full reference pushed (`host/repo:tag`). */
  ref: string;
  /** Digest of the manifest (`host/repo@digest` pulls exactly this). */
  digest: string;
  /** Per layer, bottom first: the blob and what happened to it. */
  layers: PushedLayer[];
}

/** What to push: layer directories (bottom first; store layers with their id, for the push cache) and the config. */
export interface PushSource {
  store: LayerStore;
  layers: Array<{ dir: string; id?: string }>;
  config: ImageConfig;
}

/** A blob ready to send: in a file, or in memory. */
interface Blob {
  digest: string;
  size: number;
  file?: string;
  data?: Buffer;
}

const DEFAULT_CHUNK = 16 << 20;

/** Counts bytes as they pass (for upload progress). */
function counting(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes((n += chunk.length));
      cb(null, chunk);
    },
  });
}

class Pusher {
  readonly scopes: string[];
  constructor(
    readonly client: RegistryClient,
    readonly ref: ImageReference,
    readonly options: PushOptions
  ) {
    this.scopes = [`repository:${ref.repository}:pull,push`];
  }

  async exists(digest: string): Promise<boolean> {
    const res = await this.client.send({
      method: 'HEAD',
      url: `/v2/${this.ref.repository}/blobs/${digest}`,
      scopes: this.scopes,
      expect: [200, 404],
      what: `blob ${digest}`,
    });
    await res.body?.cancel().catch(() => {});
    return res.status === 200;
  }

  /** Starts an upload, or mounts the blob from another repository of the registry; returns the upload URL or null when mounted. */
  async start(digest: string, from?: string): Promise<string | null> {
    const query = from ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}` : '';
    const res = await this.client.send({
      method: 'POST',
      url: `/v2/${this.ref.repository}/blobs/uploads/${query}`,
      scopes: from ? [...this.scopes, `repository:${from}:pull`] : this.scopes,
      headers: { 'content-length': '0' },
      expect: [201, 202],
      what: `upload of ${digest}`,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 201) return null;
    const location = res.headers.get('location');
    if (!location) throw this.client.fail('protocol', `upload of ${digest}: no Location in the answer`);
    return location;
  }

  /** Sends a blob: one PUT when small, PATCH chunks then a PUT when large. */
  async upload(blob: Blob, location: string, onBytes: (n: number) => void): Promise<void> {
    const chunkSize = this.options.chunkSize ?? DEFAULT_CHUNK;
    const what = `upload of ${blob.digest}`;
    const withDigest = (loc: string) => {
      const url = new URL(loc, 'http://placeholder');
      url.searchParams.set('digest', blob.digest);
      return /^https?:\/\//.test(loc) ? url.toString() : `${url.pathname}${url.search}`;
    };
    if (blob.data || blob.size <= chunkSize) {
      const data = blob.data;
      const file = blob.file;
      const res = await this.client.send({
        method: 'PUT',
        url: withDigest(location),
        scopes: this.scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
        body: () =>
          data ?? (Readable.toWeb(createReadStream(file!).pipe(counting(onBytes))) as unknown as ReadableStream),
        expect: [201],
        what,
      });
      await res.body?.cancel().catch(() => {});
      onBytes(blob.size);
      return;
    }
    const fh = await open(blob.file!, 'r');
    try {
      let loc = location;
      for (let offset = 0; offset < blob.size; offset += chunkSize) {
        const length = Math.min(chunkSize, blob.size - offset);
        const chunk = Buffer.alloc(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(chunk, got, length - got, offset + got);
          if (bytesRead === 0) throw new SandboxImageError('io', `${blob.file} ended early`, blob.file!);
          got += bytesRead;
        }
        const res = await this.client.send({
          method: 'PATCH',
          url: loc,
          scopes: this.scopes,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${offset}-${offset + length - 1}`,
          },
          body: () => chunk,
          expect: [202],
          what,
        });
        await res.body?.cancel().catch(() => {});
        loc = res.headers.get('location') ?? loc;
        onBytes(offset + length);
      }
      const res = await this.client.send({
        method: 'PUT',
        url: withDigest(loc),
        scopes: this.scopes,
        headers: { 'content-length': '0' },
        expect: [201],
        what,
      });
      await res.body?.cancel().catch(() => {});
    } finally {
      await fh.close();
    }
  }

  /** Makes sure the registry has the blob: HEAD, else a mount from `from`, else an upload. */
  async ensure(blob: Blob, onBytes: (n: number) => void, from?: string): Promise<'uploaded' | 'exists' | 'mounted'> {
    if (await this.exists(blob.digest)) return 'exists';
    const location = await this.start(blob.digest, from);
    if (location === null) return 'mounted';
    await this.upload(blob, location, onBytes);
    return 'uploaded';
  }
}

/** Writes a layer directory as a blob file in `work`: the tar (its digest is the diff id), gzipped unless told not to. */
async function layerBlob(
  dir: string,
  work: string,
  compression: 'gzip' | 'none',
  limit: { maxBytes: number; bytes: number }
): Promise<Blob & { diffId: string; file: string }> {
  const uid = process.getuid?.() ?? 0;
  const mapId = (id: number) => (uid !== 0 && id === uid ? 0 : id);
  const tar = join(work, 'layer.tar');
  const ops = HostFsOps.open(dir);
  let written;
  try {
    written = await writeLayerTar(dir, tar, ops, mapId, limit);
  } finally {
    await ops.close();
  }
  if (compression === 'none') return { digest: written.digest, diffId: written.digest, size: written.size, file: tar };
  const gz = join(work, 'layer.tar.gz');
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(tar),
    createGzip({ level: 6 }),
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
    }),
    createWriteStream(gz, { mode: 0o600 })
  );
  await removeTree(tar);
  return { digest: `sha256:${hash.digest('hex')}`, diffId: written.digest, size: statSync(gz).size, file: gz };
}

/**
 * Pushes layers and a config to a registry as an OCI image: each layer is written as a tar
 * (gzipped by default; whiteouts, opaque dirs, xattrs, owners and modes as the export writes
 * them) unless an earlier push of the same store layer made a blob the registry already has
 * or can mount from another repository; then the config, then the manifest under the tag.
 * @throws {SandboxRegistryError}, {@link SandboxImageError}, {@link SandboxAbortedError}.
 */
export async function pushImage(source: PushSource, refString: string, options: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(refString);
  const auth = checkAuthOption(options.auth) ?? credentialsFor(ref.registry);
  const compression = options.compression ?? 'gzip';
  const client = new RegistryClient(ref, {
    ...(auth ? { auth } : {}),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    attempts: options.attempts ?? 5,
  });
  const pusher = new Pusher(client, ref, options);
  const repoKey = `${ref.host}/${ref.repository}`;
  const limit = { maxBytes: options.maxBytes ?? 16 * 1024 ** 3, bytes: 0 };
  const { store } = source;
  const total = source.layers.length;
  const layers = await eachLimited(source.layers, Math.max(1, options.concurrency ?? 3), async (layer, i) => {
    const progress = (
      phase: PushProgress['phase'],
      blob: string | null,
      bytes: number,
      totalBytes: number,
      done: boolean
    ) => options.onProgress?.({ layer: i, layers: total, phase, blob, bytes, totalBytes, done });
    // An earlier push of this store layer: the registry may have its blob, or mount it.
    const cached = layer.id
      ? store
          .pushedBlobs(layer.id)
          .filter((p) => p.compression === compression)
          .pop()
      : undefined;
    if (cached) {
      const from = cached.repos.find((r) => r !== repoKey && r.startsWith(`${ref.host}/`))?.slice(ref.host.length + 1);
      let sent: 'exists' | 'mounted' | undefined;
      if (await pusher.exists(cached.blob)) sent = 'exists';
      else if (from && (await pusher.start(cached.blob, from)) === null) sent = 'mounted';
      if (sent) {
        await remember(store, layer.id!, { ...cached, repos: [repoKey] });
        progress(sent, cached.blob, cached.size, cached.size, true);
        return { blob: cached.blob, diffId: cached.diffId, size: cached.size, sent };
      }
    }
    const work = store.tempDir('push');
    try {
      progress('tar', null, 0, 0, false);
      const blob = await layerBlob(layer.dir, work, compression, limit);
      options.signal?.throwIfAborted();
      const sent = await pusher.ensure(blob, (n) => progress('upload', blob.digest, n, blob.size, false));
      if (layer.id)
        await remember(store, layer.id, {
          compression,
          blob: blob.digest,
          diffId: blob.diffId,
          size: blob.size,
          repos: [repoKey],
        });
      progress(sent === 'uploaded' ? 'upload' : sent, blob.digest, blob.size, blob.size, true);
      return { blob: blob.digest, diffId: blob.diffId, size: blob.size, sent };
    } finally {
      await removeTree(work);
    }
  });
  const config = ociConfigBlob(
    source.config,
    layers.map((l) => l.diffId),
    hostPlatform()
  );
  const configDesc = { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length };
  await pusher.ensure({ digest: configDesc.digest, size: config.length, data: config }, () => {});
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDesc,
      layers: layers.map((l) => ({
        mediaType: compression === 'gzip' ? OCI_LAYER_GZIP : OCI_LAYER,
        digest: l.blob,
        size: l.size,
      })),
    })
  );
  const digest = sha256(manifest);
  const res = await client.send({
    method: 'PUT',
    url: `/v2/${ref.repository}/manifests/${ref.tag ?? ref.digest!}`,
    scopes: pusher.scopes,
    headers: { 'content-type': OCI_MANIFEST },
    body: () => manifest,
    expect: [201],
    what: `manifest ${ref.repository}:${ref.tag ?? ref.digest!}`,
  });
  await res.body?.cancel().catch(() => {});
  if (ref.digest && ref.digest !== digest)
    throw new SandboxImageError(
      'digest-mismatch',
      `the pushed manifest has digest ${digest}, not ${ref.digest}`,
      ref.digest
    );
  return { ref: formatReference(ref), digest, layers };
}

async function remember(store: LayerStore, id: string, entry: PushedBlob): Promise<void> {
  await store.withLock(id, async () => store.recordPushed(id, entry));
}

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { link, mkdir, open, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { SandboxImageError } from '../errors/sandbox-error.js';
import { readTar } from './tar-reader.js';
import { safeComponents } from './layer-unpack.js';
import { decompressed, withinBytes } from './compression.js';
import { digestHex } from './layer-store.js';

/** A cap on uncompressed bytes, and what was used of it. */
export interface ByteLimit {
  maxBytes: number;
  bytes: number;
}

/** One layer of an image being imported: where its blob is and what it must hash to. */
export interface SourceLayer {
  /** The blob file (possibly compressed). */
  file: string;
  /** Digest of the blob as stored, when the manifest names it. */
  blobDigest?: string;
  /** Digest of the uncompressed tar (config `rootfs.diff_ids`), when known. */
  diffId?: string;
}

/** An image found at a path: its config (raw JSON, null for a plain rootfs tarball) and layers. */
export interface ImageSource {
  format: 'oci-layout' | 'oci-archive' | 'docker-archive' | 'rootfs-tar';
  config: unknown;
  configDigest?: string;
  layers: SourceLayer[];
  names: string[];
}

async function readVerified(file: string, digest: string): Promise<Buffer> {
  const data = await readFile(file).catch(() => {
    throw new SandboxImageError('format', `blob ${digest} is missing`, digest);
  });
  const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (actual !== digest) throw new SandboxImageError('digest-mismatch', `blob ${digest} has digest ${actual}`, digest);
  return data;
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digestHex(digest));
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

type Descriptor = { mediaType?: string; digest: string; platform?: { os?: string; architecture?: string }; annotations?: Record<string, string> };

/** An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`). */
async function fromLayout(dir: string): Promise<ImageSource> {
  let index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  const names: string[] = [];
  for (let depth = 0; depth < 4; depth++) {
    const list = index.manifests ?? [];
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const pick = list.find((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === arch)) ?? list[0];
    if (!pick) throw new SandboxImageError('format', `${dir}: the index lists no manifest`, dir);
    const ref = pick.annotations?.['org.opencontainers.image.ref.name'];
    if (ref) names.push(ref);
    const body = JSON.parse((await readVerified(blobPath(dir, pick.digest), pick.digest)).toString('utf8'));
    if (INDEX_TYPES.has(pick.mediaType ?? body.mediaType)) {
      index = body;
      continue;
    }
    const manifest = body as { config: Descriptor; layers: Descriptor[] };
    const config = JSON.parse((await readVerified(blobPath(dir, manifest.config.digest), manifest.config.digest)).toString('utf8'));
    const diffIds = (config?.rootfs?.diff_ids ?? []) as string[];
    return {
      format: 'oci-layout', config, configDigest: manifest.config.digest, names,
      layers: manifest.layers.map((l, i) => ({ file: blobPath(dir, l.digest), blobDigest: l.digest, diffId: diffIds[i] })),
    };
  }
  throw new SandboxImageError('format', `${dir}: indexes nested too deep`, dir);
}

/** A `docker save` directory (`manifest.json` naming a config and layer tars). */
async function fromDockerDir(dir: string): Promise<ImageSource> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; RepoTags?: string[]; Layers: string[] }>;
  const m = manifest[0];
  if (!m) throw new SandboxImageError('format', `${dir}: manifest.json lists no image`, dir);
  const configFile = join(dir, ...safeComponents(m.Config));
  const hexName = /([0-9a-f]{64})(\.json)?$/.exec(m.Config)?.[1];
  const configDigest = hexName ? `sha256:${hexName}` : undefined;
  const config = JSON.parse((configDigest ? await readVerified(configFile, configDigest) : await readFile(configFile)).toString('utf8'));
  const diffIds = (config?.rootfs?.diff_ids ?? []) as string[];
  return {
    format: 'docker-archive', config, configDigest, names: m.RepoTags ?? [],
    layers: m.Layers.map((l, i) => {
      const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(l)?.[1];
      return { file: join(dir, ...safeComponents(l)), blobDigest: blob ? `sha256:${blob}` : undefined, diffId: diffIds[i] };
    }),
  };
}

/** Top-level names of a (possibly compressed) tar, read without extracting anything. */
async function topLevelNames(file: string, limit: ByteLimit): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const e of readTar(withinBytes(decompressed(createReadStream(file)), { ...limit, bytes: 0 }, file))) {
    names.add(safeComponents(e.path)[0] ?? '');
    if (names.size > 64) break;
  }
  return names;
}

/**
 * Extracts an image archive's regular files (blobs, JSON) into dir. Symlinks (docker-save
 * archives link layer tars to each other) become hard links to their target, which must be a
 * file of the same archive.
 */
async function extractArchive(file: string, dir: string, limit: ByteLimit): Promise<void> {
  const links: Array<[string[], string[]]> = [];
  for await (const e of readTar(withinBytes(decompressed(createReadStream(file)), limit, file))) {
    const parts = safeComponents(e.path);
    if (e.type === 'dir' || parts.length === 0) continue;
    if (e.type === 'symlink' || e.type === 'link') {
      const target = e.type === 'link' ? e.linkname : e.linkname.startsWith('/') ? '/..' : posix.join(...parts.slice(0, -1), e.linkname);
      links.push([parts, safeComponents(target)]);
      continue;
    }
    if (e.type !== 'file') throw new SandboxImageError('format', `${file}: unexpected ${e.type} entry ${e.path} in an image archive`, e.path);
    try {
      await mkdir(join(dir, ...parts.slice(0, -1)), { recursive: true });
      const fh = await open(join(dir, ...parts), 'wx', 0o600);
      await pipeline(Readable.from(e.data), fh.createWriteStream());
    } catch (err) {
      if (err instanceof SandboxImageError) throw err;
      throw new SandboxImageError('format', `${file}: entry ${e.path}: ${(err as Error).message}`, e.path, { cause: err });
    }
  }
  for (const [from, to] of links) {
    await mkdir(join(dir, ...from.slice(0, -1)), { recursive: true });
    await link(join(dir, ...to), join(dir, ...from)).catch((err: unknown) => {
      throw new SandboxImageError('format', `${file}: link ${from.join('/')} to ${to.join('/')}, not a file of the archive`, from.join('/'), { cause: err });
    });
  }
}

/**
 * Works out what `path` holds: an OCI layout or docker-save directory, an OCI or docker-save
 * archive (unpacked into `workDir`, which the caller removes), or a plain rootfs tarball.
 * An archive may unpack to at most `limit.maxBytes`.
 * @throws {SandboxImageError} `not-found`, `format`, `digest-mismatch` or `too-large`.
 */
export async function openImageSource(path: string, workDir: () => string, limit: ByteLimit = { maxBytes: Infinity, bytes: 0 }): Promise<ImageSource> {
  if (!existsSync(path)) throw new SandboxImageError('not-found', `${path} does not exist`, path);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'oci-layout'))) return fromLayout(path);
    if (existsSync(join(path, 'manifest.json'))) return fromDockerDir(path);
    throw new SandboxImageError('format', `${path} is neither an OCI layout nor a docker-save directory (use Image.fromDirectory for a root filesystem)`, path);
  }
  const top = await topLevelNames(path, limit);
  if (top.has('oci-layout') || top.has('manifest.json')) {
    const dir = workDir();
    await extractArchive(path, dir, limit);
    const source = existsSync(join(dir, 'oci-layout')) ? await fromLayout(dir) : await fromDockerDir(dir);
    return { ...source, format: source.format === 'oci-layout' ? 'oci-archive' : 'docker-archive' };
  }
  return { format: 'rootfs-tar', config: null, names: [], layers: [{ file: path }] };
}

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { link, mkdir, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { SandboxImageError } from '../errors/sandbox-error.js';
import { readTar } from '../archive/tar-reader.js';
import { safeComponents } from './layer-unpack.js';
import { decompressed, withinBytes } from '../archive/compression.js';
import { digestHex } from './layer-store.js';
import { parseImageJson, readImageFile } from './image-files.js';

/** A cap on uncompressed bytes, and what was used of it. */
export interface ByteLimit {
  maxBytes: number;
  bytes: number;
}

/** One layer of an image being imported: where its blob is and what it must hash to. */
export interface SourceLayer {
  /** The blob file (possibly compressed). */
  file: string;
  /** The image directory `file` must stay inside (read with `imageFileStream`), unless it is the caller's own tarball. */
  root?: string;
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

async function readVerified(dir: string, file: string, digest: string): Promise<Buffer> {
  const data = await readImageFile(dir, file);
  const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (actual !== digest) throw new SandboxImageError('digest-mismatch', `blob ${digest} has digest ${actual}`, digest);
  return data;
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digestHex(digest));
}

/**
 * Most layers an image may have (Docker's own limit is 125, and each layer is a lower dir of
 * every sandbox's overlay): a manifest naming thousands would make the import crawl.
 */
export const MAX_IMAGE_LAYERS = 128;

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

type Descriptor = {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
  annotations?: Record<string, string>;
};

const malformed = (dir: string, what: string) => new SandboxImageError('format', `${dir}: ${what}`, dir);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A descriptor (`{ digest, mediaType?, ... }`) from hostile JSON, or a `format` error. */
function descriptor(dir: string, v: unknown, what: string): Descriptor {
  if (!isObject(v) || typeof v.digest !== 'string') throw malformed(dir, `${what} is not a descriptor with a digest`);
  digestHex(v.digest);
  return v as Descriptor;
}

/** The config's diff ids, which must name each layer once when the config lists them. */
function diffIdsFor(dir: string, config: unknown, layers: number): Array<string | undefined> {
  if (layers > MAX_IMAGE_LAYERS)
    throw new SandboxImageError('too-large', `${dir}: ${layers} layers (at most ${MAX_IMAGE_LAYERS})`, dir);
  const ids = isObject(config) && isObject(config.rootfs) ? config.rootfs.diff_ids : undefined;
  if (ids === undefined) return Array.from({ length: layers }, () => undefined);
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string'))
    throw malformed(dir, "the config's rootfs.diff_ids is not a list of digests");
  if (ids.length !== layers) throw malformed(dir, `the config lists ${ids.length} diff ids for ${layers} layers`);
  for (const d of ids) digestHex(d as string);
  return ids as string[];
}

/** An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`). */
async function fromLayout(dir: string): Promise<ImageSource> {
  let index = parseImageJson(await readImageFile(dir, join(dir, 'index.json')), 'index.json');
  const names: string[] = [];
  for (let depth = 0; depth < 4; depth++) {
    const list = isObject(index) ? (index.manifests ?? []) : undefined;
    if (!Array.isArray(list)) throw malformed(dir, "the index's manifests is not a list");
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const descriptors = list.map((m, i) => descriptor(dir, m, `manifest ${i} of the index`));
    const pick =
      descriptors.find(
        (m) => !isObject(m.platform) || (m.platform.os === 'linux' && m.platform.architecture === arch)
      ) ?? descriptors[0];
    if (!pick) throw new SandboxImageError('format', `${dir}: the index lists no manifest`, dir);
    const ref = isObject(pick.annotations) ? pick.annotations['org.opencontainers.image.ref.name'] : undefined;
    if (typeof ref === 'string') names.push(ref);
    const body = parseImageJson(await readVerified(dir, blobPath(dir, pick.digest), pick.digest), pick.digest);
    if (!isObject(body)) throw malformed(dir, `${pick.digest} is not a JSON object`);
    if (INDEX_TYPES.has(String(pick.mediaType ?? body.mediaType))) {
      index = body;
      continue;
    }
    if (!Array.isArray(body.layers)) throw malformed(dir, `manifest ${pick.digest} has no list of layers`);
    const configDesc = descriptor(dir, body.config, `the config of manifest ${pick.digest}`);
    const layerDescs = body.layers.map((l, i) => descriptor(dir, l, `layer ${i} of manifest ${pick.digest}`));
    const config = parseImageJson(
      await readVerified(dir, blobPath(dir, configDesc.digest), configDesc.digest),
      configDesc.digest
    );
    const diffIds = diffIdsFor(dir, config, layerDescs.length);
    return {
      format: 'oci-layout',
      config,
      configDigest: configDesc.digest,
      names,
      layers: layerDescs.map((l, i) => ({
        file: blobPath(dir, l.digest),
        root: dir,
        blobDigest: l.digest,
        diffId: diffIds[i],
      })),
    };
  }
  throw new SandboxImageError('format', `${dir}: indexes nested too deep`, dir);
}

/** A `docker save` directory (`manifest.json` naming a config and layer tars). */
async function fromDockerDir(dir: string): Promise<ImageSource> {
  const manifest = parseImageJson(await readImageFile(dir, join(dir, 'manifest.json')), 'manifest.json');
  const m = Array.isArray(manifest) ? (manifest[0] as unknown) : undefined;
  if (!m) throw new SandboxImageError('format', `${dir}: manifest.json lists no image`, dir);
  if (
    !isObject(m) ||
    typeof m.Config !== 'string' ||
    !Array.isArray(m.Layers) ||
    m.Layers.some((l) => typeof l !== 'string')
  ) {
    throw malformed(dir, 'manifest.json does not name a Config and a list of Layers');
  }
  const layerNames = m.Layers as string[];
  const configFile = join(dir, ...safeComponents(m.Config));
  const hexName = /([0-9a-f]{64})(\.json)?$/.exec(m.Config)?.[1];
  const configDigest = hexName ? `sha256:${hexName}` : undefined;
  const config = parseImageJson(
    configDigest ? await readVerified(dir, configFile, configDigest) : await readImageFile(dir, configFile),
    m.Config
  );
  const diffIds = diffIdsFor(dir, config, layerNames.length);
  const tags = Array.isArray(m.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === 'string') : [];
  return {
    format: 'docker-archive',
    config,
    configDigest,
    names: tags,
    layers: layerNames.map((l, i) => {
      const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(l)?.[1];
      return {
        file: join(dir, ...safeComponents(l)),
        root: dir,
        blobDigest: blob ? `sha256:${blob}` : undefined,
        diffId: diffIds[i],
      };
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
  for await (const e of readTar(withinBytes(decompressed(createReadStream(file)), limit, file), {
    maxSize: limit.maxBytes,
  })) {
    const parts = safeComponents(e.path);
    // A sparse entry is written out whole: its holes count too, not only the bytes it stores.
    if (e.sparse && (limit.bytes += e.size) > limit.maxBytes)
      throw new SandboxImageError(
        'too-large',
        `${file} unpacks to more than ${limit.maxBytes} bytes (raise maxBytes to import it)`,
        e.path
      );
    if (e.type === 'dir' || parts.length === 0) continue;
    if (e.type === 'symlink' || e.type === 'link') {
      const target =
        e.type === 'link'
          ? e.linkname
          : e.linkname.startsWith('/')
            ? '/..'
            : posix.join(...parts.slice(0, -1), e.linkname);
      links.push([parts, safeComponents(target)]);
      continue;
    }
    if (e.type !== 'file')
      throw new SandboxImageError(
        'format',
        `${file}: unexpected ${e.type} entry ${e.path} in an image archive`,
        e.path
      );
    try {
      await mkdir(join(dir, ...parts.slice(0, -1)), { recursive: true });
      const fh = await open(join(dir, ...parts), 'wx', 0o600);
      await pipeline(Readable.from(e.data), fh.createWriteStream());
    } catch (err) {
      if (err instanceof SandboxImageError) throw err;
      throw new SandboxImageError('format', `${file}: entry ${e.path}: ${(err as Error).message}`, e.path, {
        cause: err,
      });
    }
  }
  for (const [from, to] of links) {
    await mkdir(join(dir, ...from.slice(0, -1)), { recursive: true });
    await link(join(dir, ...to), join(dir, ...from)).catch((err: unknown) => {
      throw new SandboxImageError(
        'format',
        `${file}: link ${from.join('/')} to ${to.join('/')}, not a file of the archive`,
        from.join('/'),
        { cause: err }
      );
    });
  }
}

/**
 * Works out what `path` holds: an OCI layout or docker-save directory, an OCI or docker-save
 * archive (unpacked into `workDir`, which the caller removes), or a plain rootfs tarball.
 * An archive may unpack to at most `limit.maxBytes`.
 * @throws {SandboxImageError} `not-found`, `format`, `digest-mismatch` or `too-large`.
 */
export async function openImageSource(
  path: string,
  workDir: () => string,
  limit: ByteLimit = { maxBytes: Infinity, bytes: 0 }
): Promise<ImageSource> {
  if (!existsSync(path)) throw new SandboxImageError('not-found', `${path} does not exist`, path);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'oci-layout'))) return fromLayout(path);
    if (existsSync(join(path, 'manifest.json'))) return fromDockerDir(path);
    throw new SandboxImageError(
      'format',
      `${path} is neither an OCI layout nor a docker-save directory (use Image.fromDirectory for a root filesystem)`,
      path
    );
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

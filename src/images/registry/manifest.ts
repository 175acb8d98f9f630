import { createHash } from 'node:crypto';
import { SandboxImageError, SandboxOptionsError } from '../../errors/sandbox-error.js';
import { MAX_IMAGE_LAYERS } from '../image-source.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** The Accept header of a manifest request: indexes and image manifests, OCI and Docker v2. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(', ');

/** Most bytes of a manifest, index or config fetched from a registry. */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** Layer media types and how they are compressed. */
const LAYER_TYPES: Record<string, 'none' | 'gzip' | 'zstd'> = {
  [OCI_LAYER]: 'none',
  [OCI_LAYER_GZIP]: 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
};

/** A content descriptor checked from hostile JSON. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
}

/** An OCI platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A parsed image manifest: its config and layers. */
export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const malformed = (what: string, why: string) => new SandboxImageError('format', `${what}: ${why}`, what);

/** A descriptor from a manifest or index, or a `format` error. */
function descriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw malformed(what, 'not a descriptor');
  const { mediaType, digest, size } = v;
  if (typeof digest !== 'string' || !DIGEST.test(digest))
    throw malformed(
      what,
      `digest ${JSON.stringify(String(digest).slice(0, 80))} is not sha256 (other algorithms are not supported)`
    );
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw malformed(what, 'no valid size');
  const d: Descriptor = { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
  if (isObject(v.platform)) {
    const p = v.platform;
    if (typeof p.os === 'string' && typeof p.architecture === 'string')
      d.platform = {
        os: p.os,
        architecture: p.architecture,
        ...(typeof p.variant === 'string' ? { variant: p.variant } : {}),
      };
  }
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === 'string');
  return d;
}

/** Parses manifest JSON (already size-capped and digest-checked). */
export function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SandboxImageError('format', `${what} is not JSON (${(err as Error).message})`, what, { cause: err });
  }
  if (!isObject(json)) throw malformed(what, 'not a JSON object');
  return json;
}

/** The kind of a manifest body: from its Content-Type, else its own mediaType, else its shape. */
export function manifestKind(
  json: Record<string, unknown>,
  contentType: string | null
): 'index' | 'manifest' | 'other' {
  const type = (typeof json.mediaType === 'string' && json.mediaType) || (contentType ?? '').split(';')[0]!.trim();
  if (type === OCI_INDEX || type === DOCKER_LIST) return 'index';
  if (type === OCI_MANIFEST || type === DOCKER_MANIFEST) return 'manifest';
  if (json.schemaVersion === 2 && Array.isArray(json.manifests)) return 'index';
  if (json.schemaVersion === 2 && Array.isArray(json.layers) && isObject(json.config)) return 'manifest';
  return 'other';
}

/** The entries of an index. */
export function indexEntries(json: Record<string, unknown>, what: string): Descriptor[] {
  if (!Array.isArray(json.manifests)) throw malformed(what, 'an index without a list of manifests');
  if (json.manifests.length > 1024) throw malformed(what, `an index of ${json.manifests.length} entries`);
  return json.manifests.map((m, i) => descriptor(m, `entry ${i} of ${what}`));
}

/** The config and layers of an image manifest. */
export function imageManifest(json: Record<string, unknown>, what: string): ImageManifest {
  if (!Array.isArray(json.layers)) throw malformed(what, 'no list of layers');
  if (json.layers.length > MAX_IMAGE_LAYERS)
    throw new SandboxImageError(
      'too-large',
      `${what}: ${json.layers.length} layers (at most ${MAX_IMAGE_LAYERS})`,
      what
    );
  return {
    config: descriptor(json.config, `the config of ${what}`),
    layers: json.layers.map((l, i) => descriptor(l, `layer ${i} of ${what}`)),
  };
}

/** How a layer media type is compressed, or an `unsupported` error naming the type. */
export function layerCompression(d: Descriptor): 'none' | 'gzip' | 'zstd' {
  const c = LAYER_TYPES[d.mediaType];
  if (!c)
    throw new SandboxImageError(
      'unsupported',
      `layer ${d.digest} has media type ${JSON.stringify(d.mediaType)}, which is not an image layer this version reads`,
      d.digest
    );
  return c;
}

/** `linux/amd64`, `linux/arm/v7`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** This machine's platform in OCI terms (Node's `x64` is `amd64`; arm is v7 unless told). */
export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  if (arch === 'arm64') return { os: 'linux', architecture: 'arm64', variant: 'v8' };
  if (arch === 'arm') {
    const v = (process.config.variables as { arm_version?: string }).arm_version;
    return { os: 'linux', architecture: 'arm', variant: `v${v ?? '7'}` };
  }
  return { os: 'linux', architecture: arch };
}

/**
 * Parses a `platform` option: `linux/arm64`, `linux/arm/v7`, `arm64` (os linux).
 * @throws {SandboxOptionsError} `platform`.
 */
export function parsePlatform(value: unknown): Platform {
  if (typeof value !== 'string' || !/^[a-z0-9_]+(?:\/[a-z0-9_]+){0,2}$/.test(value))
    throw new SandboxOptionsError(
      'platform',
      `expected os/arch[/variant] such as linux/arm64, got ${JSON.stringify(String(value).slice(0, 80))}`
    );
  const parts = value.split('/');
  if (parts.length === 1) return { os: 'linux', architecture: parts[0]! };
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

/**
 * The index entry for a platform: same os and architecture, and the variant when one is asked
 * (arm64 entries without a variant count as v8). Never the first entry by default: none
 * matching is null, and the caller refuses.
 */
export function choosePlatform(entries: Descriptor[], want: Platform): Descriptor | null {
  const candidates = entries.filter(
    (e) => e.platform && e.platform.os === want.os && e.platform.architecture === want.architecture
  );
  if (!want.variant) return candidates[0] ?? null;
  const norm = (p: Platform) => p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  return (
    candidates.find((e) => norm(e.platform!) === want.variant) ??
    // an arm v7 host runs v6 and v5 too: the best lower variant
    candidates
      .filter((e) => want.architecture === 'arm' && (norm(e.platform!) ?? 'v0') < want.variant!)
      .sort((a, b) => (norm(b.platform!) ?? '').localeCompare(norm(a.platform!) ?? ''))[0] ??
    // an entry that names no variant fits any
    candidates.find((e) => !e.platform!.variant) ??
    null
  );
}

// Building test images by hand: layer tars from entry lists, OCI layouts and archives from
// layers, and a busybox root filesystem (the static /bin/busybox plus symlinks).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../../src/archive/tar-writer.js';

export const BUSYBOX = '/bin/busybox';
const APPLETS = [
  'sh',
  'ls',
  'cat',
  'echo',
  'mkdir',
  'rm',
  'ln',
  'stat',
  'touch',
  'id',
  'pwd',
  'env',
  'sleep',
  'test',
  'find',
  'sort',
  'wc',
  'readlink',
  'head',
  'true',
  'false',
  'chmod',
  'cp',
  'mv',
  'dd',
  'sync',
  'getfattr',
];

/** Fills dir with a busybox root: /bin/busybox, /bin/<applet> → busybox, /etc/passwd, /tmp. */
export function busyboxRootfs(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}

/** A layer entry: a file with content, a directory, a symlink, or a hard link. */
export type LayerEntry =
  | { path: string; content: string | Buffer; mode?: number; xattrs?: Record<string, Buffer> }
  | { path: string; dir: true; mode?: number }
  | { path: string; symlink: string }
  | { path: string; hardlink: string };

/** A tar of the entries, in order (whiteouts are just files named `.wh.x`). */
export function layerTar(entries: LayerEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const base = { path: e.path, uid: 0, gid: 0, mtime: 1_700_000_000 };
    let w: TarWriteEntry;
    let data: Buffer | undefined;
    if ('content' in e) {
      data = Buffer.from(e.content);
      w = { ...base, type: 'file', mode: e.mode ?? 0o644, size: data.length, xattrs: e.xattrs };
    } else if ('dir' in e) w = { ...base, type: 'dir', mode: e.mode ?? 0o755 };
    else if ('symlink' in e) w = { ...base, type: 'symlink', mode: 0o777, linkname: e.symlink };
    else w = { ...base, type: 'link', mode: 0o644, linkname: e.hardlink };
    parts.push(tarHeader(w));
    if (data) parts.push(data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function writeBlob(dir: string, data: Buffer): { digest: string; size: number } {
  const digest = sha(data);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

/** This machine's architecture as OCI names it. */
export const HOST_ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

/** What an index lists: a manifest's (or an index's) descriptor, with its platform where known. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One image's blobs in a layout: layers (bottom first), a config for `arch`; returns the manifest's descriptor. */
export function writeImage(
  dir: string,
  layers: Buffer[],
  arch = HOST_ARCH,
  config: Record<string, unknown> = {},
  variant?: string,
  compression: 'none' | 'gzip' | 'zstd' = 'gzip'
): Descriptor & { platform: Record<string, string> } {
  const compress = (l: Buffer) =>
    compression === 'none'
      ? l
      : compression === 'gzip'
        ? gzipSync(l)
        : execFileSync('zstd', ['-q', '-c'], { input: l, maxBuffer: 1 << 30 });
  const layerDescs = layers.map((l) => ({
    mediaType: `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`,
    ...writeBlob(dir, compress(l)),
  }));
  const cfg = Buffer.from(
    JSON.stringify({
      architecture: arch,
      ...(variant ? { variant } : {}),
      os: 'linux',
      config,
      rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    })
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(dir, cfg) },
      layers: layerDescs,
    })
  );
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...writeBlob(dir, manifest),
    platform: { architecture: arch, os: 'linux', ...(variant ? { variant } : {}) },
  };
}

/** An OCI layout whose index.json names one entry: an image manifest, or an index of several. */
export function writeLayout(dir: string, entries: Descriptor[]): string {
  mkdirSync(dir, { recursive: true });
  let top: Descriptor;
  if (entries.length === 1) top = entries[0]!;
  else {
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries })
    );
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', ...writeBlob(dir, index) };
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return dir;
}

/** Writes an OCI image layout of one amd64 image of the layers (bottom first; gzipped when asked) to dir. */
export function ociLayout(
  dir: string,
  layers: Buffer[],
  config: Record<string, unknown> = {},
  options: { gzip?: boolean; name?: string } = {}
): string {
  const { platform: _platform, ...image } = writeImage(
    dir,
    layers,
    'amd64',
    config,
    undefined,
    options.gzip ? 'gzip' : 'none'
  );
  const entry = options.name ? { ...image, annotations: { 'org.opencontainers.image.ref.name': options.name } } : image;
  return writeLayout(dir, [entry]);
}

/** Tars a directory's contents into an archive file (as `oci-archive:` and `docker-archive:` are). */
export function tarDir(dir: string, out: string): string {
  execFileSync('tar', ['-C', dir, '-cf', out, '.']);
  return out;
}

/** The first blob file of a layout whose content is a layer (for tampering tests). */
export function layerBlobPath(dir: string): string {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return join(dir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7));
}

/** Runs a tool, returning stdout (throws with its stderr on failure). */
export function tool(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { SandboxImageError } from '../errors/sandbox-error.js';
import { HostFsOps } from '../helper/host-fsops.js';
import { tarEnd, tarHeader, tarPadding } from '../archive/tar-writer.js';
import { removeTree } from '../platform/remove-tree.js';
import type { Image } from '../images/image.js';
import { storeOf } from '../images/image.js';
import { ociConfigBlob } from '../images/image-config.js';
import { hostPlatform } from '../images/registry/manifest.js';
import { writeLayerTar } from '../images/layer-tar.js';

/** Options of `snapshot.export()`. */
export interface ExportOptions {
  /** The reference name recorded in the archive's index (`org.opencontainers.image.ref.name`). @defaultValue 'latest' */
  name?: string;
  /**
   * Most bytes the layer tars may take together; past it the export stops with a `too-large`
   * {@link SandboxImageError} and writes nothing. Sparse files take only their data (PAX
   * sparse), so this bounds real content, not apparent sizes.
   * @defaultValue 16 GiB
   */
  maxBytes?: number;
}

export const DEFAULT_EXPORT_MAX_BYTES = 16 * 1024 ** 3;

/** What an export wrote. */
export interface ExportResult {
  /** The archive's absolute path. */
  path: string;
  /** Digest of the image manifest. */
  manifestDigest: string;
  /** Diff ids of the layers, bottom first. */
  layers: string[];
  /** The archive's size in bytes. */
  bytes: number;
}

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The image's layers as directories, bottom first. */
function layerDirs(image: Image): string[] {
  const { layers, base } = image.stack;
  const store = image.layerStore;
  const dirs = store ? layers.map((l) => store.layerDir(l)) : [];
  if (!base) return dirs;
  if (base.kind === 'directory')
    return [...base.layers({ hostLayer: () => ({ dir: '', binds: [] }) }).lowerDirs, ...dirs];
  throw new SandboxImageError(
    'unsupported',
    'a snapshot of the host image cannot be exported: its base is the host system, not layers',
    base.toString()
  );
}

/** Tars a directory of blobs and JSON files (an OCI layout) into one archive file. */
async function archive(layout: string, files: string[], out: string): Promise<number> {
  const tmp = `${out}.tmp-${process.pid}`;
  const file = createWriteStream(tmp, { mode: 0o644 });
  const write = async (b: Buffer) => {
    if (!file.write(b)) await once(file, 'drain');
  };
  const dir = { type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtime: 0 };
  await write(tarHeader({ ...dir, path: 'blobs/' }));
  await write(tarHeader({ ...dir, path: 'blobs/sha256/' }));
  for (const rel of files) {
    const size = statSync(join(layout, rel)).size;
    await write(tarHeader({ path: rel, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size }));
    for await (const chunk of createReadStream(join(layout, rel))) await write(chunk as Buffer);
    await write(tarPadding(size));
  }
  await write(tarEnd());
  file.end();
  await once(file, 'finish');
  renameSync(tmp, out);
  return statSync(out).size;
}

/**
 * Writes an image (in practice a snapshot) as an OCI archive. @internal
 * @throws {SandboxImageError} `unsupported` for an image over the host system, `too-large` past `maxBytes`.
 */
export async function exportImage(image: Image, path: string, options: ExportOptions = {}): Promise<ExportResult> {
  const maxBytes = options.maxBytes ?? DEFAULT_EXPORT_MAX_BYTES;
  if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0))
    throw new SandboxImageError('format', `maxBytes must be a positive integer, not ${String(options.maxBytes)}`);
  const limit = { maxBytes, bytes: 0 };
  const dirs = layerDirs(image);
  const store = image.layerStore ?? storeOf();
  const work = store.tempDir('export');
  const uid = process.getuid?.() ?? 0;
  const mapId = (id: number) => (uid !== 0 && id === uid ? 0 : id);
  try {
    mkdirSync(join(work, 'blobs', 'sha256'), { recursive: true });
    const layers: Array<{ digest: string; size: number }> = [];
    for (const dir of dirs) {
      const ops = HostFsOps.open(dir);
      try {
        const tmp = join(work, `layer-${layers.length}.tar`);
        const l = await writeLayerTar(dir, tmp, ops, mapId, limit);
        renameSync(tmp, join(work, 'blobs', 'sha256', l.digest.slice(7)));
        layers.push(l);
      } finally {
        await ops.close();
      }
    }
    const config = ociConfigBlob(
      image.config,
      layers.map((l) => l.digest),
      hostPlatform()
    );
    const blob = (data: Buffer) => {
      const digest = sha(data);
      writeFileSync(join(work, 'blobs', 'sha256', digest.slice(7)), data);
      return { digest, size: data.length };
    };
    const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(config) };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: configDesc,
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: l.digest,
          size: l.size,
        })),
      })
    );
    const manifestDesc = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...blob(manifest),
      annotations: { 'org.opencontainers.image.ref.name': options.name ?? 'latest' },
    };
    writeFileSync(
      join(work, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [manifestDesc],
      })
    );
    writeFileSync(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const blobs = [...new Set([...layers.map((l) => l.digest), configDesc.digest, manifestDesc.digest])].map(
      (d) => `blobs/sha256/${d.slice(7)}`
    );
    const out = resolve(path);
    const bytes = await archive(work, ['oci-layout', 'index.json', ...blobs], out);
    return { path: out, manifestDigest: manifestDesc.digest, layers: layers.map((l) => l.digest), bytes };
  } finally {
    await removeTree(work);
  }
}

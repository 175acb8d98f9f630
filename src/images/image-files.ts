import { constants, createReadStream, type ReadStream } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { relative } from 'node:path';
import { SandboxImageError } from '../errors/sandbox-error.js';

/** Linux O_PATH: a handle that names an inode without opening it (no FIFO wait, no device open). */
const O_PATH = 0o10000000;

/** Most bytes of an index, manifest or config JSON file (real ones are a few KiB). */
export const MAX_IMAGE_JSON_BYTES = 8 << 20;

/**
 * Opens a file of an image directory for reading. Symlinks inside the directory are followed
 * (skopeo and `docker save` link layer tars to each other), but the file reached must be a
 * regular file beneath `root`: a link to a host file, a FIFO or a device is refused. The check
 * is made on the inode actually opened (an O_PATH handle, then reopened through /proc), so a
 * path swapped meanwhile cannot slip past it. Without `root` (a tarball the caller named) only
 * the regular-file check applies.
 * @throws {SandboxImageError} `format` (missing, not a regular file) or `unsafe-entry` (outside `root`).
 */
export async function openImageFile(root: string | undefined, file: string): Promise<FileHandle> {
  const name = root ? relative(root, file) : file;
  const handle = await open(file, O_PATH).catch((err: unknown) => {
    throw new SandboxImageError('format', `${name} is missing or unreadable: ${(err as Error).message}`, name, {
      cause: err,
    });
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new SandboxImageError('format', `${name} is not a regular file`, name);
    if (root) {
      const where = await readlink(`/proc/self/fd/${handle.fd}`);
      const top = await realpath(root);
      if (!where.startsWith(`${top}/`))
        throw new SandboxImageError('unsafe-entry', `${name} leads outside the image directory`, name);
    }
    return await open(`/proc/self/fd/${handle.fd}`, constants.O_RDONLY | constants.O_NOCTTY);
  } finally {
    await handle.close();
  }
}

/** A read stream of a checked image file (see {@link openImageFile}); it closes the file at its end. */
export async function imageFileStream(
  root: string | undefined,
  file: string,
  signal?: AbortSignal
): Promise<ReadStream> {
  const fh = await openImageFile(root, file);
  return createReadStream('', { fd: fh, autoClose: true, ...(signal ? { signal } : {}) });
}

/** The whole content of a checked image file, at most `max` bytes. @throws {SandboxImageError} `too-large`. */
export async function readImageFile(
  root: string | undefined,
  file: string,
  max = MAX_IMAGE_JSON_BYTES
): Promise<Buffer> {
  const fh = await openImageFile(root, file);
  try {
    const { size } = await fh.stat();
    const name = root ? relative(root, file) : file;
    if (size > max)
      throw new SandboxImageError('too-large', `${name} is ${size} bytes (at most ${max} are read)`, name);
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/** Parses image JSON; bad JSON is a `format` error naming the file. */
export function parseImageJson(data: Buffer, name: string): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new SandboxImageError('format', `${name} is not valid JSON: ${(err as Error).message.slice(0, 200)}`, name, {
      cause: err,
    });
  }
}

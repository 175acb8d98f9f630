import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { SandboxImageError } from '../errors/sandbox-error.js';
import { zstdDecompressed } from './zstd.js';

/**
 * The uncompressed bytes of a layer or archive stream: gzip and zstd are recognised by their
 * magic bytes and decoded (zstd by the pure-JavaScript fzstd, Node 20 having no decoder), a
 * plain tar passes through.
 * @throws {SandboxImageError} `format` for a corrupt or truncated stream, `unsupported` for a
 * zstd window past `MAX_ZSTD_WINDOW`.
 */
export async function* decompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length < 4) {
    const more = await it.next();
    if (more.done) break;
    first = { done: false, value: Buffer.concat([first.value, more.value]) };
  }
  if (first.done) return;
  const head = first.value;
  const rest: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    },
  };
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    yield* zstdDecompressed(rest);
    return;
  }
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield* rest;
    return;
  }
  const gunzip = createGunzip();
  const input = Readable.from(rest);
  input.on('error', (err) => gunzip.destroy(err));
  try {
    for await (const chunk of input.pipe(gunzip)) yield chunk as Buffer;
  } catch (err) {
    // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR: corrupt or cut short) are the archive's fault.
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_'))
      throw new SandboxImageError('format', `not a valid gzip stream: ${(err as Error).message}`, null, { cause: err });
    throw err;
  }
}

/** Counts uncompressed bytes against the budget, stopping the stream past `maxBytes`. */
export async function* withinBytes(
  source: AsyncIterable<Buffer>,
  budget: { maxBytes: number; bytes: number },
  what: string
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    if ((budget.bytes += chunk.length) > budget.maxBytes) {
      throw new SandboxImageError(
        'too-large',
        `${what} unpacks to more than ${budget.maxBytes} bytes (raise maxBytes to import it)`,
        what
      );
    }
    yield chunk;
  }
}

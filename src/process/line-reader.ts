import type { Readable } from 'node:stream';
import { SandboxLineTooLongError } from '../errors/sandbox-error.js';

/** Lines waiting for the consumer beyond this many bytes pause the stream (back-pressure). */
const QUEUE_HIGH_WATER = 1 << 20;

/**
 * The lines of a byte stream, bounded: no line may be longer than `maxLength` bytes (the
 * iteration then ends with {@link SandboxLineTooLongError}), and lines the consumer has not
 * taken yet pause the stream past 1 MiB. Lines end at `\n`; a `\r` before it is dropped.
 * Only `\n` ends a line. A last line without `\n` is yielded at the end of the stream.
 */
export async function* readLines(stream: Readable, maxLength: number): AsyncGenerator<string, void, undefined> {
  const queue: Array<{ text: string; bytes: number }> = [];
  let head = 0,
    queuedBytes = 0;
  let partial: Buffer[] = [],
    partialLen = 0;
  let ended = stream.readableEnded,
    failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const push = (parts: Buffer[], len: number) => {
    let line = Buffer.concat(parts, len);
    if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
    queue.push({ text: line.toString('utf8'), bytes: len });
    queuedBytes += len;
  };
  const onData = (chunk: Buffer) => {
    if (failure) return;
    for (let start = 0; ;) {
      const nl = chunk.indexOf(10, start);
      const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
      if (partialLen + piece.length > maxLength) {
        failure = new SandboxLineTooLongError(maxLength);
        partial = [];
        partialLen = 0;
        break;
      }
      if (nl < 0) {
        if (piece.length > 0) {
          partial.push(piece);
          partialLen += piece.length;
        }
        break;
      }
      push([...partial, piece], partialLen + piece.length);
      partial = [];
      partialLen = 0;
      start = nl + 1;
    }
    if (queuedBytes > QUEUE_HIGH_WATER && !failure) stream.pause();
    notify();
  };
  const onEnd = () => {
    if (!ended && !failure && partialLen > 0) push(partial, partialLen);
    ended = true;
    notify();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  try {
    for (;;) {
      if (head < queue.length) {
        const { text, bytes } = queue[head]!;
        queue[head++] = undefined as never;
        queuedBytes -= bytes;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        if (queuedBytes <= QUEUE_HIGH_WATER / 2 && stream.isPaused()) stream.resume();
        yield text;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    if (stream.isPaused()) stream.resume(); // the result's collector keeps reading
  }
}

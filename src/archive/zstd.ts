import { Decompress } from 'fzstd';
import { SandboxImageError } from '../errors/sandbox-error.js';

/**
 * Largest zstd window accepted. The decoder keeps a buffer of the window's size per stream, so
 * a hostile frame header could otherwise ask the host for 2 GiB; real layers use 1–8 MiB
 * (`zstd -19` is 8 MiB), and zstd's own decoder refuses more than 128 MiB without `--long`.
 */
export const MAX_ZSTD_WINDOW = 32 << 20;

const FRAME_MAGIC = 0xfd2fb528;
const MAX_BLOCK = 128 << 10;

const corrupt = (why: string) => new SandboxImageError('format', `not a valid zstd stream: ${why}`);

/**
 * Walks the frame structure of a zstd stream as it passes (frame headers, block headers,
 * checksums, skippable frames) without decoding: it checks each frame's window against
 * {@link MAX_ZSTD_WINDOW} before the decoder allocates it, and tells how many bytes may be fed
 * next so that one feed never completes more than one block (≤ 128 KiB of output per feed).
 */
class FrameWalker {
  private need = 4;
  private state: 'magic' | 'fhd' | 'header' | 'block' | 'body' | 'checksum' | 'skip-size' | 'skip' = 'magic';
  private head: number[] = [];
  private headerLen = 0;
  private checksum = false;
  private last = false;

  /** Consumes bytes of `chunk` from `at`; returns how many it took (≥ 1 when any are left). */
  step(chunk: Uint8Array, at: number): number {
    if (this.state === 'body' || this.state === 'skip' || this.state === 'checksum') {
      const n = Math.min(this.need, chunk.length - at);
      this.need -= n;
      if (this.need === 0) this.next();
      return n;
    }
    this.head.push(chunk[at]!);
    if (this.head.length === this.need) this.parse();
    return 1;
  }

  /** Whether the stream ended on a frame boundary. */
  get complete(): boolean {
    return this.state === 'magic' && this.head.length === 0;
  }

  private parse(): void {
    const h = this.head;
    switch (this.state) {
      case 'magic': {
        const magic = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        this.head = [];
        if (magic === FRAME_MAGIC) return this.expect('fhd', 1);
        if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) return this.expect('skip-size', 4);
        throw corrupt('a frame does not start with the zstd magic number');
      }
      case 'fhd': {
        const fhd = h[0]!;
        if (fhd & 0x08) throw corrupt('a reserved frame header bit is set');
        const single = (fhd >> 5) & 1;
        const fcsFlag = fhd >> 6;
        const dictBytes = [0, 1, 2, 4][fhd & 3]!;
        const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
        this.checksum = ((fhd >> 2) & 1) === 1;
        this.headerLen = 1 + (single ? 0 : 1) + dictBytes + fcsBytes;
        if (this.headerLen === 1) return this.frameHeader(fhd, []);
        return this.expect('header', this.headerLen, [fhd]);
      }
      case 'header':
        return this.frameHeader(h[0]!, h.slice(1));
      case 'block': {
        const b = h[0]! | (h[1]! << 8) | (h[2]! << 16);
        this.head = [];
        this.last = (b & 1) === 1;
        const type = (b >> 1) & 3;
        const size = b >> 3;
        if (type === 3) throw corrupt('a reserved block type');
        if (size > MAX_BLOCK) throw corrupt(`a block of ${size} bytes (at most ${MAX_BLOCK})`);
        const body = type === 1 ? 1 : size;
        this.state = 'body';
        this.need = body;
        if (body === 0) this.next();
        return;
      }
      case 'skip-size': {
        const size = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
        this.head = [];
        if (size === 0) return this.expect('magic', 4);
        this.state = 'skip';
        this.need = size;
        return;
      }
    }
  }

  private frameHeader(fhd: number, rest: number[]): void {
    const single = (fhd >> 5) & 1;
    const fcsFlag = fhd >> 6;
    let window: number;
    if (!single) {
      const wd = rest[0]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    } else {
      const fcs = rest.slice(rest.length - (fcsFlag === 0 ? 1 : 1 << fcsFlag));
      window = fcs.reduce((v, byte, i) => v + byte * 2 ** (8 * i), 0) + (fcsFlag === 1 ? 256 : 0);
    }
    if (window > MAX_ZSTD_WINDOW)
      throw new SandboxImageError(
        'unsupported',
        `a zstd frame with a ${Math.round(window / 1048576)} MiB window (at most ${MAX_ZSTD_WINDOW >> 20} MiB); recompress it without --long`
      );
    this.head = [];
    this.expect('block', 3);
  }

  private expect(state: FrameWalker['state'], need: number, head: number[] = []): void {
    this.state = state;
    this.need = need;
    this.head = head;
  }

  /** After a block body, a checksum or a skippable frame. */
  private next(): void {
    if (this.state === 'body' && !this.last) return this.expect('block', 3);
    if (this.state === 'body' && this.checksum) {
      this.state = 'checksum';
      this.need = 4;
      this.checksum = false;
      return;
    }
    this.expect('magic', 4);
  }
}

/**
 * The decompressed bytes of a zstd stream (one or more frames, skippable frames allowed),
 * decoded by fzstd (pure JavaScript). Memory stays bounded: windows past
 * {@link MAX_ZSTD_WINDOW} are refused before allocation, and the decoder is fed at most one
 * block at a time, so no feed yields more than 128 KiB.
 * @throws {SandboxImageError} `format` for a corrupt or truncated stream, `unsupported` for a too-large window.
 */
export async function* zstdDecompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const walker = new FrameWalker();
  let out: Uint8Array[] = [];
  const decoder = new Decompress((chunk) => {
    if (chunk.length > 0) out.push(chunk);
  });
  const feed = (piece: Uint8Array, final: boolean) => {
    try {
      decoder.push(piece, final);
    } catch (err) {
      throw corrupt((err as Error).message);
    }
  };
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length;) {
      const n = walker.step(chunk, at);
      // Feed what the walker has passed: a header byte, or up to one block body.
      feed(chunk.subarray(at, at + n), false);
      at += n;
      if (out.length > 0) {
        const ready = out;
        out = [];
        for (const o of ready) yield Buffer.from(o.buffer, o.byteOffset, o.length);
      }
    }
  }
  if (!walker.complete) throw corrupt('the stream ends inside a frame');
  feed(new Uint8Array(0), true);
  for (const o of out) yield Buffer.from(o.buffer, o.byteOffset, o.length);
}

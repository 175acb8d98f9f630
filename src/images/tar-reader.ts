import { SandboxImageError } from '../errors/sandbox-error.js';

/** Kinds of tar entries sandkit understands. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

/** One entry of a tar stream; `data` must be consumed (or left: the reader skips it). */
export interface TarEntry {
  /** The entry's name as stored (not normalized). */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target, or for a hard link the path it links to. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** `SCHILY.xattr.*` pax records. */
  xattrs: Record<string, Buffer>;
  data: AsyncIterable<Buffer>;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** Pulls exact byte counts out of an async stream of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private done = false;
  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, next.value]) : next.value;
    }
    return this.buf.length >= n;
  }

  async exact(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async *stream(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw format('truncated archive');
      const take = Math.min(n, this.buf.length);
      const chunk = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      n -= take;
      yield chunk;
    }
  }

  /** Reads whatever is left, so the source (and a digest over it) is consumed to its end. */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (!this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
    }
  }
}

function format(message: string): SandboxImageError {
  return new SandboxImageError('format', `not a valid tar archive: ${message}`);
}

function str(b: Buffer, from: number, len: number): string {
  const field = b.subarray(from, from + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** Octal, or GNU base-256 when the first byte has its high bit set. */
function num(b: Buffer, from: number, len: number): number {
  if (b[from]! & 0x80) {
    let v = b[from]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[from + i]!;
    return v;
  }
  const s = str(b, from, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === num(h, 148, 8);
}

function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(32, pos);
    if (sp < 0) break;
    const len = parseInt(data.subarray(pos, sp).toString(), 10);
    if (!(len > 0)) throw format('bad pax record');
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(61);
    if (eq > 0) out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    pos += len;
  }
  return out;
}

/**
 * Reads a tar stream (ustar, pax and GNU long names), yielding one entry at a time.
 * @throws {SandboxImageError} `format` for a corrupt or truncated archive or an unknown entry type.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let pax = new Map<string, Buffer>();
  const global = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await r.exact(512);
    if (!h || h.every((x) => x === 0)) break;
    if (!checksumOk(h)) throw format('header checksum mismatch');
    const flag = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const body = await r.exact(padded);
      if (!body) throw format('truncated archive');
      const data = body.subarray(0, size);
      if (flag === 'x') pax = parsePax(data);
      else if (flag === 'g') for (const [k, v] of parsePax(data)) global.set(k, v);
      else if (flag === 'L') longName = str(data, 0, data.length);
      else longLink = str(data, 0, data.length);
      continue;
    }
    const type = TYPES[flag];
    if (!type) throw format(`unsupported entry type ${JSON.stringify(flag)}`);
    const ext = new Map([...global, ...pax]);
    const prefix = h.subarray(257, 263).toString() === 'ustar\0' || h.subarray(257, 262).toString() === 'ustar' ? str(h, 345, 155) : '';
    const name = ext.get('path')?.toString('utf8') ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const realSize = ext.has('size') ? Number(ext.get('size')!.toString()) : size;
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of ext) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
    const dataSize = type === 'file' ? realSize : 0;
    let left = dataSize;
    const entry: TarEntry = {
      path: name,
      type,
      mode: num(h, 100, 8) & 0o7777,
      uid: ext.has('uid') ? Number(ext.get('uid')!.toString()) : num(h, 108, 8),
      gid: ext.has('gid') ? Number(ext.get('gid')!.toString()) : num(h, 116, 8),
      size: dataSize,
      mtime: ext.has('mtime') ? Math.floor(Number(ext.get('mtime')!.toString())) : num(h, 136, 12),
      linkname: ext.get('linkpath')?.toString('utf8') ?? longLink ?? str(h, 157, 100),
      devmajor: num(h, 329, 8),
      devminor: num(h, 337, 8),
      xattrs,
      data: {
        async *[Symbol.asyncIterator]() {
          for await (const chunk of r.stream(left)) {
            left -= chunk.length;
            yield chunk;
          }
        },
      },
    };
    pax = new Map();
    longName = longLink = undefined;
    yield entry;
    // What the consumer did not read, then the padding up to the next block.
    const rest = Math.ceil(realSize / 512) * 512 - (dataSize - left);
    if (rest > 0) for await (const _ of r.stream(rest)) { /* skipped */ }
  }
  await r.drain();
}

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
  /** The file's content (`size` bytes; a sparse file's holes read as zeros). */
  data: AsyncIterable<Buffer>;
  /**
   * A sparse file (PAX sparse 1.0): the data extents, ascending, and their bytes one after
   * another in `segments`. Read either `data` or `segments`, not both.
   */
  sparse?: { extents: SparseExtent[]; segments: AsyncIterable<Buffer> };
}

/** One stretch of data of a sparse file; everything between extents is a hole. */
export interface SparseExtent {
  offset: number;
  length: number;
}

/** A sparse map may list at most this many extents (the map is held in memory). */
export const MAX_SPARSE_EXTENTS = 1 << 20;

/**
 * Most bytes of one metadata entry (pax `x`/`g` header, GNU long name `L` or link `K`), and of
 * all global headers together: they are held in memory, and real ones are a few KiB.
 */
export const MAX_TAR_META_BYTES = 1 << 20;

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

/** Reads a PAX sparse 1.0 map at the start of the entry's data; returns it and its size. */
async function readSparseMap(r: ByteReader, stored: number, realSize: number): Promise<{ extents: SparseExtent[]; mapBytes: number }> {
  const numbers: number[] = [];
  let text = '';
  let mapBytes = 0;
  let want = -1;
  while (want < 0 || numbers.length < 1 + want * 2) {
    if (mapBytes + 512 > stored) throw format('truncated sparse map');
    const block = await r.exact(512);
    if (!block) throw format('truncated archive');
    mapBytes += 512;
    text += block.toString('latin1');
    const lines = text.split('\n');
    text = lines.pop()!;
    for (const line of lines) {
      if (want >= 0 && numbers.length >= 1 + want * 2) break;
      if (!/^\d{1,16}$/.test(line)) throw format('bad sparse map');
      numbers.push(Number(line));
      if (numbers.length === 1) {
        want = numbers[0]!;
        if (want > MAX_SPARSE_EXTENTS) throw format(`sparse map of ${want} extents`);
      }
    }
    if (text.length > 32 && numbers.length < 1 + want * 2) throw format('bad sparse map');
  }
  const extents: SparseExtent[] = [];
  let end = 0;
  let data = 0;
  for (let i = 0; i < want; i++) {
    const offset = numbers[1 + i * 2]!;
    const length = numbers[2 + i * 2]!;
    if (offset < end || offset + length > realSize) throw format('sparse map out of order or past the end');
    end = offset + length;
    data += length;
    if (length > 0) extents.push({ offset, length });
  }
  if (mapBytes + data !== stored) throw format('sparse map does not match the stored size');
  return { extents, mapBytes };
}

/** A sparse file's full content: its segments with zeros for the holes. */
async function* expandSparse(extents: SparseExtent[], segments: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  const zeros = Buffer.alloc(64 * 1024);
  let pos = 0;
  const hole = function* (to: number) {
    while (pos < to) {
      const n = Math.min(zeros.length, to - pos);
      pos += n;
      yield zeros.subarray(0, n);
    }
  };
  const it = segments[Symbol.asyncIterator]();
  for (const ext of extents) {
    yield* hole(ext.offset);
    let left = ext.length;
    while (left > 0) {
      const next = await it.next();
      if (next.done) throw format('truncated archive');
      // Chunks never straddle extents: the reader hands out at most what is left of each.
      left -= next.value.length;
      pos += next.value.length;
      yield next.value;
    }
  }
  yield* hole(size);
}

/**
 * Reads a tar stream (ustar, pax and GNU long names, PAX 1.0 sparse files), yielding one entry at a time.
 * @throws {SandboxImageError} `format` for a corrupt or truncated archive or an unknown entry type.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let pax = new Map<string, Buffer>();
  const global = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let globalBytes = 0;
  for (;;) {
    const h = await r.exact(512);
    if (!h || h.every((x) => x === 0)) break;
    if (!checksumOk(h)) throw format('header checksum mismatch');
    const flag = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_TAR_META_BYTES || (flag === 'g' && (globalBytes += size) > MAX_TAR_META_BYTES)) {
        throw format(`a ${flag} metadata entry of ${size} bytes (at most ${MAX_TAR_META_BYTES} are read)`);
      }
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
    const sparseMajor = ext.get('GNU.sparse.major')?.toString();
    if (sparseMajor !== undefined && (sparseMajor !== '1' || ext.get('GNU.sparse.minor')?.toString() !== '0' || type !== 'file')) {
      throw format(`unsupported sparse format ${sparseMajor}.${ext.get('GNU.sparse.minor')?.toString()}`);
    }
    const name = ext.get('GNU.sparse.name')?.toString('utf8') ?? ext.get('path')?.toString('utf8') ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const realSize = ext.has('size') ? Number(ext.get('size')!.toString()) : size;
    if (!Number.isSafeInteger(realSize) || realSize < 0) throw format('bad entry size');
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of ext) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
    // A sparse file stores its map and then its data extents: `realSize` bytes in all.
    const sparseSize = sparseMajor !== undefined ? Number(ext.get('GNU.sparse.realsize')?.toString()) : undefined;
    if (sparseSize !== undefined && !(Number.isSafeInteger(sparseSize) && sparseSize >= 0)) throw format('bad sparse size');
    const storedSize = type === 'file' ? realSize : 0;
    let left = storedSize;
    let sparse: TarEntry['sparse'];
    if (sparseSize !== undefined) {
      const map = await readSparseMap(r, storedSize, sparseSize);
      left -= map.mapBytes;
      sparse = { extents: map.extents, segments: { [Symbol.asyncIterator]: () => storedData() } };
    }
    async function* storedData(): AsyncGenerator<Buffer> {
      // Chunks end at extent boundaries, so a consumer can place each one.
      const bounds = sparse ? sparse.extents.map((x) => x.length) : [left];
      for (const n of bounds) {
        for await (const chunk of r.stream(Math.min(n, left))) {
          left -= chunk.length;
          yield chunk;
        }
      }
    }
    const entrySize = sparseSize ?? storedSize;
    const entry: TarEntry = {
      path: name,
      type,
      mode: num(h, 100, 8) & 0o7777,
      uid: ext.has('uid') ? Number(ext.get('uid')!.toString()) : num(h, 108, 8),
      gid: ext.has('gid') ? Number(ext.get('gid')!.toString()) : num(h, 116, 8),
      size: entrySize,
      mtime: ext.has('mtime') ? Math.floor(Number(ext.get('mtime')!.toString())) : num(h, 136, 12),
      linkname: ext.get('linkpath')?.toString('utf8') ?? longLink ?? str(h, 157, 100),
      devmajor: num(h, 329, 8),
      devminor: num(h, 337, 8),
      xattrs,
      data: sparse ? { [Symbol.asyncIterator]: () => expandSparse(sparse.extents, storedData(), entrySize) } : { [Symbol.asyncIterator]: () => storedData() },
      ...(sparse ? { sparse } : {}),
    };
    pax = new Map();
    longName = longLink = undefined;
    yield entry;
    // What the consumer did not read, then the padding up to the next block.
    const rest = Math.ceil(realSize / 512) * 512 - (storedSize - left);
    if (rest > 0) for await (const _ of r.stream(rest)) { /* skipped */ }
  }
  await r.drain();
}

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
   * A sparse file (old GNU `S`, PAX sparse 0.0, 0.1 or 1.0): the data extents, ascending, and
   * their bytes one after another in `segments`. Read either `data` or `segments`, not both.
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
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
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

function tooLarge(message: string, path: string): SandboxImageError {
  return new SandboxImageError('too-large', `${message} (raise the limit to read it)`, path);
}

function str(b: Buffer, from: number, len: number): string {
  const field = b.subarray(from, from + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/**
 * A numeric header field: octal (space or NUL padded), or GNU base-256 when the first byte
 * is 0x80 (0xff: negative). Anything else is a corrupt header, not a number to guess at.
 */
function num(b: Buffer, from: number, len: number): number {
  const first = b[from]!;
  if (first & 0x80) {
    if (first !== 0x80 && first !== 0xff) throw format('bad base-256 number in a header');
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + (first === 0xff ? 0xff - b[from + i]! : b[from + i]!);
    if (!Number.isSafeInteger(v)) throw format('base-256 number out of range');
    return first === 0xff ? -v - 1 : v;
  }
  // As GNU tar reads it: leading spaces, octal digits, then the end, a NUL or a space.
  const m = /^ *([0-7]*)(?:[ \0]|$)/.exec(b.subarray(from, from + len).toString('latin1'));
  if (!m)
    throw format(
      `bad octal number ${JSON.stringify(
        b
          .subarray(from, from + len)
          .toString('latin1')
          .slice(0, 12)
      )} in a header`
    );
  return m[1] ? parseInt(m[1], 8) : 0;
}

/** A decimal pax value, or a format error naming the key. */
function decimal(key: string, value: Buffer | undefined, fraction = false): number | undefined {
  if (value === undefined) return undefined;
  const s = value.toString('latin1');
  if (!(fraction ? /^-?\d{1,20}(\.\d{0,20})?$/ : /^\d{1,20}$/).test(s))
    throw format(`bad pax ${key} ${JSON.stringify(s.slice(0, 24))}`);
  const v = fraction ? Math.floor(Number(s)) : Number(s);
  if (!Number.isSafeInteger(v)) throw format(`pax ${key} out of range`);
  return v;
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === num(h, 148, 8);
}

/** Pax records in order (repeated keys kept: PAX sparse 0.0 repeats offset and numbytes). */
function parsePax(data: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(32, pos);
    if (sp < 0 || sp - pos > 12) throw format('bad pax record');
    const len = Number(data.subarray(pos, sp).toString('latin1'));
    if (!Number.isSafeInteger(len) || len < sp - pos + 3 || pos + len > data.length || data[pos + len - 1] !== 10)
      throw format('bad pax record');
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(61);
    if (eq > 0) out.push([rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1)]);
    pos += len;
  }
  return out;
}

/** Limits of one read; past them an entry is `too-large`. */
export interface ReadTarOptions {
  /** Largest real size of one entry (a sparse file's full size counts). @defaultValue no limit */
  maxSize?: number;
  /** Most extents in one sparse map. @defaultValue {@link MAX_SPARSE_EXTENTS} */
  maxExtents?: number;
}

/** Checks a sparse map against the file's real size and its stored bytes; drops empty extents. */
function checkedExtents(raw: SparseExtent[], realSize: number, stored: number): SparseExtent[] {
  const extents: SparseExtent[] = [];
  let end = 0;
  let data = 0;
  for (const { offset, length } of raw) {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < end ||
      length < 0 ||
      offset + length > realSize
    ) {
      throw format('sparse map out of order or past the end');
    }
    end = offset + length;
    data += length;
    if (length > 0) extents.push({ offset, length });
  }
  if (data !== stored) throw format('sparse map does not match the stored size');
  return extents;
}

/** Reads a PAX sparse 1.0 map at the start of the entry's data; returns it and its size. */
async function readSparseMap(
  r: ByteReader,
  stored: number,
  realSize: number,
  maxExtents: number,
  path: string
): Promise<{ extents: SparseExtent[]; mapBytes: number }> {
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
        if (want > maxExtents) throw tooLarge(`a sparse map of ${want} extents (at most ${maxExtents})`, path);
      }
    }
    if (text.length > 32 && numbers.length < 1 + want * 2) throw format('bad sparse map');
  }
  const raw = Array.from({ length: want }, (_, i) => ({ offset: numbers[1 + i * 2]!, length: numbers[2 + i * 2]! }));
  return { extents: checkedExtents(raw, realSize, stored - mapBytes), mapBytes };
}

/**
 * An old GNU sparse entry's map (type 'S'): four extents in the header, then extension
 * blocks of 21 while the "is extended" byte is set. Each number is octal or base-256.
 */
async function readOldGnuSparse(r: ByteReader, h: Buffer, maxExtents: number, path: string): Promise<SparseExtent[]> {
  const raw: SparseExtent[] = [];
  const take = (block: Buffer, from: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const at = from + i * 24;
      if (block[at] === 0) break;
      raw.push({ offset: num(block, at, 12), length: num(block, at + 12, 12) });
      if (raw.length > maxExtents) throw tooLarge(`a sparse map of more than ${maxExtents} extents`, path);
    }
  };
  take(h, 386, 4);
  for (let extended = h[482] !== 0; extended;) {
    const block = await r.exact(512);
    if (!block) throw format('truncated archive');
    const before = raw.length;
    take(block, 0, 21);
    // An extension block with no extent carries nothing: refuse it rather than read them forever.
    if (raw.length === before) throw format('empty sparse extension header');
    extended = block[504] !== 0;
  }
  return raw;
}

/** Where a sparse entry keeps its map, and its real size; undefined for a plain file. */
interface SparseLayout {
  realSize: number;
  /** The map itself (old GNU and PAX 0.x), or 'in-data' (PAX 1.0: decimal lines before the data). */
  map: SparseExtent[] | 'in-data';
}

/** PAX sparse 0.0 (repeated offset/numbytes records), 0.1 (one `map` record) or 1.0 (map in the data). */
function paxSparse(
  records: Array<[string, Buffer]>,
  pax: Map<string, Buffer>,
  maxExtents: number,
  path: string
): SparseLayout | undefined {
  const major = pax.get('GNU.sparse.major')?.toString('latin1');
  const minor = pax.get('GNU.sparse.minor')?.toString('latin1');
  const hasMap = pax.has('GNU.sparse.map');
  const hasPairs = pax.has('GNU.sparse.offset');
  if (major === undefined && !hasMap && !hasPairs && !pax.has('GNU.sparse.size')) return undefined;
  const version = major !== undefined ? `${major}.${minor}` : hasMap ? '0.1' : '0.0';
  if (version === '1.0') {
    const realSize = decimal('GNU.sparse.realsize', pax.get('GNU.sparse.realsize'));
    if (realSize === undefined) throw format('PAX 1.0 sparse file without GNU.sparse.realsize');
    return { realSize, map: 'in-data' };
  }
  const realSize = decimal('GNU.sparse.size', pax.get('GNU.sparse.size'));
  if (realSize === undefined) throw format(`PAX ${version} sparse file without GNU.sparse.size`);
  const numbers: number[] = [];
  if (version === '0.1') {
    const text = pax.get('GNU.sparse.map')?.toString('latin1') ?? '';
    for (const part of text === '' ? [] : text.split(',')) {
      numbers.push(decimal('GNU.sparse.map', Buffer.from(part))!);
      if (numbers.length > 2 * maxExtents) throw tooLarge(`a sparse map of more than ${maxExtents} extents`, path);
    }
  } else if (version === '0.0') {
    for (const [k, v] of records) {
      if (k !== 'GNU.sparse.offset' && k !== 'GNU.sparse.numbytes') continue;
      // Pairs in order: an offset, then its length.
      if ((k === 'GNU.sparse.offset') !== (numbers.length % 2 === 0))
        throw format('PAX 0.0 sparse records out of order');
      numbers.push(decimal(k, v)!);
      if (numbers.length > 2 * maxExtents) throw tooLarge(`a sparse map of more than ${maxExtents} extents`, path);
    }
  } else {
    throw format(`unsupported sparse format ${version}`);
  }
  if (numbers.length % 2 !== 0) throw format(`PAX ${version} sparse map of an odd count`);
  const map = Array.from({ length: numbers.length / 2 }, (_, i) => ({
    offset: numbers[i * 2]!,
    length: numbers[i * 2 + 1]!,
  }));
  const declared = decimal('GNU.sparse.numblocks', pax.get('GNU.sparse.numblocks'));
  if (declared !== undefined && declared !== map.length)
    throw format('sparse map length differs from GNU.sparse.numblocks');
  return { realSize, map };
}

/** A sparse file's full content: its segments with zeros for the holes. */
async function* expandSparse(
  extents: SparseExtent[],
  segments: AsyncIterable<Buffer>,
  size: number
): AsyncGenerator<Buffer> {
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

/** Pax records as a map: a later record wins, an empty value removes the key (POSIX). */
function applyRecords(into: Map<string, Buffer>, records: Array<[string, Buffer]>): Map<string, Buffer> {
  for (const [k, v] of records) {
    if (v.length === 0) into.delete(k);
    else into.set(k, v);
  }
  return into;
}

/** A uid or gid: a non-negative 32-bit number. */
function id(value: number, what: string): number {
  if (!(Number.isSafeInteger(value) && value >= 0 && value < 2 ** 32)) throw format(`bad ${what} ${value}`);
  return value;
}

/**
 * Reads a tar stream (ustar, pax and GNU long names, old GNU sparse 'S' entries and PAX
 * sparse 0.0, 0.1 and 1.0), yielding one entry at a time. Metadata held in memory is bounded:
 * each pax or long-name entry and all global headers by {@link MAX_TAR_META_BYTES}, a sparse
 * map by `maxExtents`.
 * @throws {SandboxImageError} `format` for a corrupt or truncated archive or an unknown entry
 *   type, `too-large` for an entry past `maxSize` or a sparse map past `maxExtents`.
 */
export async function* readTar(source: AsyncIterable<Buffer>, options: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const maxSize = options.maxSize ?? Infinity;
  const maxExtents = Math.min(options.maxExtents ?? MAX_SPARSE_EXTENTS, MAX_SPARSE_EXTENTS);
  const r = new ByteReader(source);
  let records: Array<[string, Buffer]> = [];
  const global = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let globalBytes = 0;
  for (;;) {
    const h = await r.exact(512);
    if (!h || isZeroBlock(h)) break;
    if (!checksumOk(h)) throw format('header checksum mismatch');
    const flag = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw format('bad entry size');
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_TAR_META_BYTES || (flag === 'g' && (globalBytes += size) > MAX_TAR_META_BYTES)) {
        throw format(`a ${flag} metadata entry of ${size} bytes (at most ${MAX_TAR_META_BYTES} are read)`);
      }
      const body = await r.exact(padded);
      if (!body) throw format('truncated archive');
      const data = body.subarray(0, size);
      if (flag === 'x') records = parsePax(data);
      else if (flag === 'g') applyRecords(global, parsePax(data));
      else if (flag === 'L') longName = str(data, 0, data.length);
      else longLink = str(data, 0, data.length);
      continue;
    }
    const type = flag === 'S' ? 'file' : TYPES[flag];
    if (!type) throw format(`unsupported entry type ${JSON.stringify(flag)}`);
    const pax = applyRecords(new Map(), records);
    const ext = applyRecords(new Map(global), records);
    // Only POSIX ustar has a name prefix; old GNU headers keep times and the sparse map there.
    const prefix = h.subarray(257, 263).toString('latin1') === 'ustar\0' ? str(h, 345, 155) : '';
    const name =
      pax.get('GNU.sparse.name')?.toString('utf8') ??
      ext.get('path')?.toString('utf8') ??
      longName ??
      (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const storedTotal = decimal('size', ext.get('size')) ?? size;
    // Sparse layouts come from this entry's own header and records, never from global ones.
    const layout: SparseLayout | undefined =
      flag === 'S'
        ? { realSize: num(h, 483, 12), map: await readOldGnuSparse(r, h, maxExtents, name) }
        : type === 'file'
          ? paxSparse(records, pax, maxExtents, name)
          : undefined;
    const storedSize = type === 'file' ? storedTotal : 0;
    const entrySize = layout?.realSize ?? storedSize;
    if (!Number.isSafeInteger(entrySize) || entrySize < 0) throw format('bad sparse size');
    if (entrySize > maxSize)
      throw tooLarge(`entry ${JSON.stringify(name.slice(0, 200))} of ${entrySize} bytes (at most ${maxSize})`, name);
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of ext) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
    let left = storedSize;
    let sparse: TarEntry['sparse'];
    if (layout) {
      let extents: SparseExtent[];
      if (layout.map === 'in-data') {
        const map = await readSparseMap(r, storedSize, layout.realSize, maxExtents, name);
        left -= map.mapBytes;
        extents = map.extents;
      } else {
        extents = checkedExtents(layout.map, layout.realSize, storedSize);
      }
      sparse = { extents, segments: { [Symbol.asyncIterator]: () => storedData() } };
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
    const entry: TarEntry = {
      path: name,
      type,
      mode: num(h, 100, 8) & 0o7777,
      uid: id(decimal('uid', ext.get('uid')) ?? num(h, 108, 8), 'uid'),
      gid: id(decimal('gid', ext.get('gid')) ?? num(h, 116, 8), 'gid'),
      size: entrySize,
      mtime: decimal('mtime', ext.get('mtime'), true) ?? num(h, 136, 12),
      linkname: ext.get('linkpath')?.toString('utf8') ?? longLink ?? str(h, 157, 100),
      devmajor: num(h, 329, 8),
      devminor: num(h, 337, 8),
      xattrs,
      data: sparse
        ? { [Symbol.asyncIterator]: () => expandSparse(sparse.extents, storedData(), entrySize) }
        : { [Symbol.asyncIterator]: () => storedData() },
      ...(sparse ? { sparse } : {}),
    };
    records = [];
    longName = longLink = undefined;
    yield entry;
    // What the consumer did not read, then the padding up to the next block.
    const rest = Math.ceil(storedTotal / 512) * 512 - (storedSize - left);
    if (rest > 0)
      for await (const _ of r.stream(rest)) {
        /* skipped */
      }
  }
  await r.drain();
}

function isZeroBlock(h: Buffer): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

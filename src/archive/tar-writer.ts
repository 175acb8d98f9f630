import type { SparseExtent, TarEntryType } from './tar-reader.js';

/** What the writer needs to know about one entry; `data` only for files. */
export interface TarWriteEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  size?: number;
  xattrs?: Record<string, Buffer>;
  /**
   * A sparse file's data extents (`size` is then its full size): written as PAX sparse 1.0,
   * the map right after the header, so the caller writes only the extents' bytes.
   */
  sparse?: SparseExtent[];
}

const TYPE_FLAG: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function octal(value: number, len: number): string {
  return value.toString(8).padStart(len - 1, '0') + '\0';
}

function header(name: string, flag: string, e: Partial<TarWriteEntry>, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal((e.mode ?? 0o644) & 0o7777, 8), 100);
  h.write(octal(Math.min(e.uid ?? 0, 0o7777777), 8), 108);
  h.write(octal(Math.min(e.gid ?? 0, 0o7777777), 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(Math.max(0, Math.min(e.mtime ?? 0, 0o77777777777)), 12), 136);
  h.write(flag, 156);
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(octal(e.devmajor ?? 0, 8), 329);
  h.write(octal(e.devminor ?? 0, 8), 337);
  h.write('        ', 148);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function pad(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/**
 * The header blocks of one entry (a pax header first when a name is long or not ASCII, an id
 * too large, or xattrs present). Callers append the file's bytes and then `padding(size)`.
 */
export function tarHeader(e: TarWriteEntry): Buffer {
  const map = e.type === 'file' && e.sparse ? sparseMap(e.sparse) : undefined;
  const size = map ? map.length + e.sparse!.reduce((n, x) => n + x.length, 0) : e.type === 'file' ? (e.size ?? 0) : 0;
  const records: Buffer[] = [];
  const needsPax = (s: string) => Buffer.byteLength(s) > 99 || /[^\x20-\x7e]/.test(s);
  let name = e.path;
  if (map) {
    // GNU tar's layout: the real name and size in pax records, a stand-in name in the header.
    records.push(paxRecord('GNU.sparse.major', Buffer.from('1')), paxRecord('GNU.sparse.minor', Buffer.from('0')));
    records.push(
      paxRecord('GNU.sparse.name', Buffer.from(e.path)),
      paxRecord('GNU.sparse.realsize', Buffer.from(String(e.size ?? 0)))
    );
    const slash = e.path.lastIndexOf('/');
    name = `${slash >= 0 ? e.path.slice(0, slash + 1) : ''}GNUSparseFile.0/${e.path.slice(slash + 1)}`;
  }
  if (needsPax(name) && !map) records.push(paxRecord('path', Buffer.from(name)));
  if (e.linkname && needsPax(e.linkname)) records.push(paxRecord('linkpath', Buffer.from(e.linkname)));
  if (e.uid > 0o7777777) records.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.gid > 0o7777777) records.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (size > 0o77777777777) records.push(paxRecord('size', Buffer.from(String(size))));
  for (const [k, v] of Object.entries(e.xattrs ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const blocks: Buffer[] = [];
  if (records.length > 0) {
    const body = Buffer.concat(records);
    blocks.push(header('PaxHeader', 'x', { mode: 0o644 }, body.length), body, pad(body.length));
  }
  const short = (s: string) => Buffer.from(s).subarray(0, 99).toString();
  blocks.push(
    header(short(name), TYPE_FLAG[e.type], { ...e, linkname: short(e.linkname ?? '') }, Math.min(size, 0o77777777777))
  );
  if (map) blocks.push(map);
  return Buffer.concat(blocks);
}

/** The PAX 1.0 sparse map: decimal lines (count, then offset and length of each), block-padded. */
function sparseMap(extents: SparseExtent[]): Buffer {
  const text = Buffer.from(
    [String(extents.length), ...extents.flatMap((x) => [String(x.offset), String(x.length)])].join('\n') + '\n'
  );
  return Buffer.concat([text, pad(text.length)]);
}

/** Zero bytes that round a file's data up to a whole block. */
export function tarPadding(size: number): Buffer {
  return pad(size);
}

/** The end-of-archive marker (two zero blocks). */
export function tarEnd(): Buffer {
  return Buffer.alloc(1024);
}

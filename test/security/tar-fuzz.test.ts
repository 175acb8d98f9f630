// The tar reader against random and mutated archives (seeded): random bytes, and valid archives
// (ours and GNU tar's: long names, pax, old GNU and PAX sparse) with header bytes flipped and
// checksums fixed so the header still parses, sizes made huge or malformed (octal, base-256),
// type flags swapped (dir, file, symlink, link, sparse, metadata), pax and GNU long-name
// records injected ('..', absolute paths, escaping link targets, deep and malformed records),
// entries duplicated, archives truncated or gzip-wrapped. Every case must end — parsed, or
// failed with a typed SandboxError — within bounded time and memory, with no unhandled
// rejection; a sample also goes through the real layer unpack into a fresh layer directory,
// and nothing outside it may change. SANDKIT_FUZZ_SEED and SANDKIT_FUZZ_CASES pick the run.
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { SandboxError } from '../../src/index.js';
import { readTar } from '../../src/archive/tar-reader.js';
import { decompressed } from '../../src/archive/compression.js';
import { tarEnd, tarHeader, tarPadding, type TarWriteEntry } from '../../src/archive/tar-writer.js';
import { unpackLayer } from '../../src/images/layer-unpack.js';
import { HostFsOps } from '../../src/helper/host-fsops.js';
import { removeTree } from '../../src/platform/remove-tree.js';
import { it } from '../helpers/sandboxes.js';
import { seededRandom } from '../helpers/seeded-random.js';

const SEED = Number(process.env.SANDKIT_FUZZ_SEED ?? 20261202);
const CASES = Number(process.env.SANDKIT_FUZZ_CASES ?? 3000);
/** One case in this many is unpacked for real (the rest are parsed, every byte consumed). */
const UNPACK_EVERY = 10;
const MAX_SIZE = 8 << 20;
const MAX_EXTENTS = 5000;

type Rand = () => number;

// --- valid archives to mutate --------------------------------------------------------------
const NAMES = [
  'a',
  'a/b',
  'd/',
  'd/x',
  './c',
  'esc',
  'esc/pwned',
  '../outside/pwned',
  '/outside/pwned',
  'a/../../outside/pwned',
  `${'n'.repeat(150)}/f`,
  `${'p/'.repeat(70)}deep`,
];
const TARGETS = ['a', '../outside', '../../outside/canary', '/', '/etc/passwd', 'd', 'esc', `${'t'.repeat(120)}`];

function ours(r: Rand): Buffer {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const parts: Buffer[] = [];
  const count = 1 + Math.floor(r() * 8);
  for (let i = 0; i < count; i++) {
    const base: TarWriteEntry = {
      path: pick(NAMES),
      type: 'file',
      mode: pick([0o644, 0o755, 0o4755, 0o777]),
      uid: pick([0, 1000, 5_000_000]),
      gid: 0,
      mtime: 1_700_000_000,
    };
    const kind = r();
    if (kind < 0.35) {
      const data = Buffer.alloc(Math.floor(r() * 1500), 0x61 + i);
      parts.push(
        tarHeader({
          ...base,
          size: data.length,
          ...(r() < 0.2 ? { xattrs: { 'user.k': Buffer.from([0xff, 0, 1]) } } : {}),
        }),
        data,
        tarPadding(data.length)
      );
    } else if (kind < 0.5) {
      const sparse = [
        { offset: 1000, length: 600 },
        { offset: 9000, length: 10 },
      ];
      parts.push(tarHeader({ ...base, size: 20_000, sparse }), Buffer.alloc(610, 0x73), tarPadding(610));
    } else if (kind < 0.65) parts.push(tarHeader({ ...base, type: 'dir', path: `${base.path}/` }));
    else if (kind < 0.85) parts.push(tarHeader({ ...base, type: 'symlink', linkname: pick(TARGETS) }));
    else if (kind < 0.95) parts.push(tarHeader({ ...base, type: 'link', linkname: pick([...TARGETS, ...NAMES]) }));
    else parts.push(tarHeader({ ...base, type: 'fifo' }));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** GNU tar's own archives of a small tree with a sparse file, in the formats it writes. */
function gnuArchives(dir: string): Buffer[] {
  const src = join(dir, 'gnu-src');
  mkdirSync(join(src, `${'l'.repeat(120)}`), { recursive: true });
  writeFileSync(join(src, `${'l'.repeat(120)}`, `${'f'.repeat(110)}`), 'long name\n');
  execFileSync('sh', [
    '-c',
    `cd ${src} && truncate -s 300000 sp && printf data | dd of=sp bs=1 seek=70000 conv=notrunc 2>/dev/null && printf more | dd of=sp bs=1 seek=200000 conv=notrunc 2>/dev/null && ln -s ../x link && ln sp hard`,
  ]);
  return [
    ['--format=gnu'],
    ['--format=pax', '--sparse-version=0.0'],
    ['--format=pax', '--sparse-version=0.1'],
    ['--format=pax', '--sparse-version=1.0'],
    ['--format=oldgnu'],
  ].map((flags) => {
    const out = join(dir, `gnu-${flags.join('').replace(/\W/g, '')}.tar`);
    execFileSync('tar', ['--sparse', ...flags, '-C', src, '-cf', out, '.']);
    return readFileSync(out);
  });
}

// --- mutations -----------------------------------------------------------------------------
/** Offsets of the header blocks of a (valid) archive. */
function headerOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  for (let off = 0; off + 512 <= buf.length;) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    out.push(off);
    const size =
      h[124]! & 0x80
        ? 0
        : parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8) || 0;
    let next = off + 512;
    if (h[156] === 0x53)
      for (let ext = h[482] !== 0; ext && next + 512 <= buf.length; next += 512) ext = buf[next + 504] !== 0;
    off = next + Math.ceil(size / 512) * 512;
  }
  return out;
}

function fixChecksum(buf: Buffer, off: number): void {
  buf.fill(32, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += buf[off + i]!;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 'latin1');
}

function metaEntry(flag: string, body: Buffer): Buffer {
  const h = tarHeader({ path: 'meta', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length });
  h.write(flag, 156, 'latin1');
  fixChecksum(h, 0);
  return Buffer.concat([h, body, tarPadding(body.length)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

const PAX_RECORDS: Array<(r: Rand) => string> = [
  () => paxRecord('path', '../../outside/pwned'),
  () => paxRecord('path', '/outside/pwned'),
  () => paxRecord('path', 'a/\0/b'),
  () => paxRecord('linkpath', '../../../outside/canary'),
  () => paxRecord('size', '9223372036854775807'),
  (r) => paxRecord('size', String(Math.floor(r() * 5000))),
  () => paxRecord('size', '-1'),
  () => paxRecord('uid', '99999999999999'),
  () => paxRecord('mtime', 'x.5'),
  () =>
    paxRecord('GNU.sparse.major', '1') +
    paxRecord('GNU.sparse.minor', '0') +
    paxRecord('GNU.sparse.realsize', '1099511627776'),
  () => paxRecord('GNU.sparse.size', '99999999') + paxRecord('GNU.sparse.map', '0,10,5,10'),
  (r) =>
    paxRecord('GNU.sparse.size', String(Math.floor(r() * 1e6))) +
    paxRecord('GNU.sparse.numblocks', '2') +
    paxRecord('GNU.sparse.offset', '10') +
    paxRecord('GNU.sparse.numbytes', String(Math.floor(r() * 3000))),
  () => paxRecord('GNU.sparse.size', '100') + paxRecord('GNU.sparse.numbytes', '10'),
  () => paxRecord('GNU.sparse.major', '7') + paxRecord('GNU.sparse.minor', '3'),
  () => Array.from({ length: 5000 }, (_, i) => paxRecord(`k${i}`, 'v')).join(''),
  () => '99999999999 path=x\n',
  () => '5 a=\n',
  () => '12 no-equals\n',
  () => `${'9'.repeat(40)} x=y\n`,
  (r) => paxRecord(`SCHILY.xattr.${r() < 0.5 ? 'trusted.overlay.opaque' : 'user.x'}`, 'y'),
];

function mutate(src: Buffer, r: Rand): Buffer {
  const int = (n: number) => Math.floor(r() * n);
  let buf = Buffer.from(src);
  const rounds = 1 + int(3);
  for (let round = 0; round < rounds; round++) {
    const heads = headerOffsets(buf);
    const head = () => (heads.length ? heads[int(heads.length)]! : 0);
    const m = int(11);
    if (m === 0 && heads.length > 0) {
      // flip header bytes, keep the checksum right
      const off = head();
      for (let i = 0, n = 1 + int(8); i < n; i++) {
        const at = int(512);
        if (at >= 148 && at < 156) continue;
        buf[off + at] = int(256);
      }
      fixChecksum(buf, off);
    } else if (m === 1 && heads.length > 0) {
      // a size, mode, uid or mtime field gone bad
      const off = head();
      const [field, len] = [
        [124, 12],
        [100, 8],
        [108, 8],
        [136, 12],
        [483, 12],
        [386, 24],
      ][int(6)]!;
      const values: Array<() => Buffer> = [
        () => Buffer.from('77777777777\0'),
        () => Buffer.from([0x80, ...Array.from({ length: len - 1 }, () => int(256))]),
        () => Buffer.from([0xff, ...Array.from({ length: len - 1 }, () => int(256))]),
        () => Buffer.from([0x80 | int(128), 1, 2, 3]),
        () => Buffer.from('12z45\0'),
        () => Buffer.from(' 9 '),
        () =>
          Buffer.from(
            int(1 << 20)
              .toString(8)
              .padStart(len - 1, '0') + '\0'
          ),
      ];
      buf.fill(0, off + field, off + field + len);
      values[int(values.length)]!().copy(buf, off + field, 0, len);
      fixChecksum(buf, off);
    } else if (m === 2 && heads.length > 0) {
      // dir <-> file <-> symlink <-> link <-> sparse <-> metadata
      const off = head();
      buf[off + 156] = '0125S3467xgLKNVD\0Z'.charCodeAt(int(18));
      if (r() < 0.3) buf[off + 482] = 1; // "is extended"
      fixChecksum(buf, off);
    } else if (m === 3) {
      // truncated
      buf = buf.subarray(0, int(buf.length + 1));
    } else if (m === 4) {
      // a pax header (or a global one) in front of an entry
      const records = Array.from({ length: 1 + int(3) }, () => PAX_RECORDS[int(PAX_RECORDS.length)]!(r)).join('');
      const at = head();
      buf = Buffer.concat([
        buf.subarray(0, at),
        metaEntry(r() < 0.8 ? 'x' : 'g', Buffer.from(records, 'latin1')),
        buf.subarray(at),
      ]);
    } else if (m === 5) {
      // a GNU long name or link
      const name = [
        '../../outside/pwned',
        `/${'x'.repeat(5000)}`,
        `${'a/'.repeat(2000)}b`,
        'esc/pwned',
        'a\0b',
        `${'../'.repeat(30)}etc`,
      ][int(6)]!;
      const at = head();
      buf = Buffer.concat([
        buf.subarray(0, at),
        metaEntry(r() < 0.6 ? 'L' : 'K', Buffer.from(`${name}\0`)),
        buf.subarray(at),
      ]);
    } else if (m === 6 && heads.length > 0) {
      // an entry duplicated, maybe as another type
      const i = int(heads.length);
      const seg = Buffer.from(buf.subarray(heads[i]!, heads[i + 1] ?? heads[i]! + 512));
      if (seg.length >= 512 && r() < 0.5) {
        seg[156] = '0125'.charCodeAt(int(4));
        fixChecksum(seg, 0);
      }
      const at = head();
      buf = Buffer.concat([buf.subarray(0, at), seg, buf.subarray(at)]);
    } else if (m === 7) {
      // random bytes spliced in
      const at = r() < 0.5 ? head() : int(buf.length + 1);
      buf = Buffer.concat([
        buf.subarray(0, at),
        Buffer.from(Array.from({ length: int(2048) }, () => int(256))),
        buf.subarray(at),
      ]);
    } else if (m === 8) {
      // a huge declared metadata entry
      const at = head();
      const h = tarHeader({ path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 });
      h.write('xgLK'[int(4)]!, 156, 'latin1');
      h.write(`${(r() < 0.5 ? 0o77777777777 : (1 << 20) + 1).toString(8)}\0`, 124, 'latin1');
      fixChecksum(h, 0);
      buf = Buffer.concat([buf.subarray(0, at), h, Buffer.alloc(int(4096)), buf.subarray(at)]);
    } else if (m === 9 && heads.length > 0) {
      // an extension block of an old GNU sparse header gone wild
      const off = head();
      buf[off + 156] = 0x53;
      buf[off + 482] = 1;
      fixChecksum(buf, off);
      const ext = Buffer.alloc(512, r() < 0.5 ? 0 : 0x37);
      ext[504] = r() < 0.5 ? 1 : 0;
      buf = Buffer.concat([buf.subarray(0, off + 512), ext, buf.subarray(off + 512)]);
    } else {
      // the end marker dropped
      buf = buf.subarray(0, Math.max(0, buf.length - 1024));
    }
  }
  return buf;
}

function randomBytes(r: Rand): Buffer {
  const b = Buffer.from(Array.from({ length: Math.floor(r() * 4096) }, () => Math.floor(r() * 256)));
  if (r() < 0.3 && b.length >= 512) fixChecksum(b, 0); // a header that parses, then noise
  return b;
}

// --- checks --------------------------------------------------------------------------------
/** Reads every entry and every byte (bounded by MAX_SIZE each). */
async function parse(input: Buffer): Promise<number> {
  let entries = 0;
  for await (const e of readTar(decompressed(Readable.from([input])), { maxSize: MAX_SIZE, maxExtents: MAX_EXTENTS })) {
    entries++;
    if (entries % 2 === 0) continue; // leave some data unread: the reader skips it
    for await (const _ of e.data) {
      /* consumed */
    }
  }
  return entries;
}

/** Every path under dir with its type, mode, size, link target or content. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(rel, name);
      const st = lstatSync(join(dir, path));
      out.push(
        `${path} ${st.mode.toString(8)} ${st.size} ${st.isSymbolicLink() ? readlinkSync(join(dir, path)) : st.isFile() ? readFileSync(join(dir, path), 'latin1') : ''}`
      );
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
  return out;
}

describe('tar reader fuzz', () => {
  it(`${CASES} random and mutated archives from seed ${SEED}: typed errors only, bounded, nothing written outside the layer`, async ({
    tempDir,
  }) => {
    console.log(`tar fuzz: seed ${SEED}, ${CASES} cases (SANDKIT_FUZZ_SEED=${SEED} replays)`);
    const dir = tempDir();
    const corpus = gnuArchives(dir);
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'canary'), 'canary\n');
    const layer = join(dir, 'layer');
    mkdirSync(layer);
    const ops = HostFsOps.open(layer);
    const before = snapshot(dir);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    const r = seededRandom(SEED);
    const heap0 = process.memoryUsage().heapUsed;
    let peak = 0;
    let slowest = 0;
    const outcomes = { parsed: 0, refused: 0, unpacked: 0 };
    const started = Date.now();
    try {
      for (let i = 0; i < CASES; i++) {
        const kind = r();
        let input =
          kind < 0.15 ? randomBytes(r) : mutate(kind < 0.6 ? ours(r) : corpus[Math.floor(r() * corpus.length)]!, r);
        if (r() < 0.1)
          input = r() < 0.7 ? gzipSync(input) : gzipSync(input).subarray(0, Math.floor(r() * input.length));
        const what = `case ${i} of seed ${SEED}`;
        const t0 = Date.now();
        let err: unknown;
        if (i % UNPACK_EVERY === 0) {
          try {
            await unpackLayer(
              readTar(decompressed(Readable.from([input])), { maxSize: MAX_SIZE, maxExtents: MAX_EXTENTS }),
              layer,
              ops,
              process.getuid?.() === 0,
              { maxEntries: 1000, entries: 0 }
            );
            outcomes.unpacked++;
          } catch (e) {
            err = e;
          }
          // Async: rmSync recurses once per level and overflows on a 2000-deep tree (one 4 KiB path).
          chmodSync(layer, 0o755);
          for (const name of readdirSync(layer)) await removeTree(join(layer, name));
          expect(snapshot(dir), `${what}: something outside the layer changed`).toEqual(before);
        } else {
          await parse(input).then(
            () => outcomes.parsed++,
            (e: unknown) => {
              err = e;
            }
          );
        }
        if (err !== undefined) {
          outcomes.refused++;
          expect(err, `${what}: ${String((err as Error)?.stack ?? err)}`).toBeInstanceOf(SandboxError);
        }
        slowest = Math.max(slowest, Date.now() - t0);
        if (i % 50 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - heap0);
      }
    } finally {
      await ops.close();
      process.off('unhandledRejection', onUnhandled);
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `tar fuzz: ${CASES} cases in ${seconds.toFixed(1)} s (${JSON.stringify(outcomes)}), slowest ${slowest} ms, heap growth at most ${(peak / 2 ** 20).toFixed(0)} MiB`
    );
    expect(unhandled).toEqual([]);
    expect(outcomes.parsed + outcomes.unpacked, 'some cases must still parse').toBeGreaterThan(CASES / 20);
    expect(slowest, 'one case took too long').toBeLessThan(5_000);
    expect(peak, 'heap grew past 256 MiB').toBeLessThan(256 * 2 ** 20);
  }, 120_000);
});

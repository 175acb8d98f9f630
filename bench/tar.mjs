#!/usr/bin/env node
// Our tar reader and writer (src/archive/) against tar-stream, side by side in one run.
//
//   node bench/tar.mjs [--n 5] [--tree /usr/lib/python3.11] [--json]
//
// Import: a layer tar of --tree made by GNU tar (uncompressed and gzip), unpacked by the real
// layer unpack (src/images/layer-unpack.ts, same path rules, same helper fs ops) into a fresh
// directory, entries coming from our reader or from a tar-stream extract mapped to the same
// TarEntry shape. "parse" reads the same archives and consumes every byte without writing.
// Export: the same tree written as a tar file, by our tarHeader() or by tar-stream's pack.
// Cases alternate in each round; the table shows the median of --n rounds and the ratio
// tar-stream / ours (above 1: tar-stream is slower).
import { execFileSync } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '5' },
    tree: { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(args.n);
const tree =
  args.tree ||
  readdirSync('/usr/lib')
    .filter((d) => /^python3\.\d+$/.test(d))
    .map((d) => join('/usr/lib', d))[0];
if (!tree) throw new Error('no /usr/lib/python3.* here: pass --tree <dir>');
const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'sandkit-bench-tar-'));

// The internal modules, bundled once (they are not part of the public API).
const esbuild = require('esbuild');
const entry = join(work, 'entry.ts');
writeFileSync(
  entry,
  [
    `export { readTar } from ${JSON.stringify(join(root, 'src/archive/tar-reader.ts'))};`,
    `export { tarHeader, tarPadding, tarEnd } from ${JSON.stringify(join(root, 'src/archive/tar-writer.ts'))};`,
    `export { decompressed } from ${JSON.stringify(join(root, 'src/archive/compression.ts'))};`,
    `export { unpackLayer } from ${JSON.stringify(join(root, 'src/images/layer-unpack.ts'))};`,
    `export { HostFsOps } from ${JSON.stringify(join(root, 'src/helper/host-fsops.ts'))};`,
  ].join('\n')
);
await esbuild.build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: join(work, 'internal.mjs'),
  logLevel: 'error',
});
process.env.SANDKIT_HELPER ??= join(root, 'native', 'build', 'sandkit-helper');
const { readTar, tarHeader, tarPadding, tarEnd, decompressed, unpackLayer, HostFsOps } = await import(
  join(work, 'internal.mjs')
);
const tarStream = require('tar-stream');

// --- tar-stream as a TarEntry source -------------------------------------------------------
const TS_TYPES = {
  file: 'file',
  'contiguous-file': 'file',
  link: 'link',
  symlink: 'symlink',
  directory: 'dir',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

/** tar-stream entries in our reader's shape (pax uid/gid/mtime/xattrs applied on top). */
async function* tarStreamEntries(source) {
  const extract = tarStream.extract();
  const input = Readable.from(source);
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  for await (const stream of extract) {
    const h = stream.header;
    const type = TS_TYPES[h.type];
    if (!type) throw new Error(`unsupported entry type ${h.type}`);
    const pax = h.pax ?? {};
    const xattrs = {};
    for (const [k, v] of Object.entries(pax))
      if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = Buffer.from(v, 'utf8');
    yield {
      path: h.name,
      type,
      mode: h.mode & 0o7777,
      uid: pax.uid ? Number(pax.uid) : h.uid,
      gid: pax.gid ? Number(pax.gid) : h.gid,
      size: h.size,
      mtime: pax.mtime ? Math.floor(Number(pax.mtime)) : Math.floor(h.mtime.getTime() / 1000),
      linkname: h.linkname ?? '',
      devmajor: h.devmajor,
      devminor: h.devminor,
      xattrs,
      data: stream,
    };
    stream.resume(); // whatever the consumer left
  }
}

// --- fixtures ------------------------------------------------------------------------------
const plain = join(work, 'layer.tar');
const gz = join(work, 'layer.tar.gz');
execFileSync('tar', ['-C', dirname(tree), '--format=gnu', '-cf', plain, tree.split('/').pop()]);
execFileSync('sh', ['-c', `gzip -6 -c ${plain} > ${gz}`]);
const files = Number(
  execFileSync('sh', ['-c', `tar -tf ${plain} | wc -l`])
    .toString()
    .trim()
);
const mib = (lstatSync(plain).size / 2 ** 20).toFixed(1);

const readers = { ours: (src) => readTar(src), 'tar-stream': (src) => tarStreamEntries(src) };
const asRoot = process.getuid?.() === 0;
let dirs = 0;

async function unpackOnce(reader, file) {
  const dest = join(work, `unpack-${dirs++}`);
  mkdirSync(dest);
  const ops = HostFsOps.open(dest);
  try {
    const t0 = performance.now();
    await unpackLayer(readers[reader](decompressed(createReadStream(file))), dest, ops, asRoot, {
      maxEntries: 1e7,
      entries: 0,
    });
    return performance.now() - t0;
  } finally {
    await ops.close();
    rmSync(dest, { recursive: true, force: true });
  }
}

async function parseOnce(reader, file) {
  const t0 = performance.now();
  // Every entry's data is read through, as an unpack would.
  for await (const e of readers[reader](decompressed(createReadStream(file)))) for await (const _chunk of e.data);
  return performance.now() - t0;
}

// --- export --------------------------------------------------------------------------------
function walk(dir, rel = '', out = []) {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    out.push({ path, st });
    if (st.isDirectory()) walk(dir, path, out);
  }
  return out;
}
const listing = walk(tree);
const meta = (st) => ({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) });

async function writeOurs(out) {
  const file = createWriteStream(out);
  const put = async (b) => {
    if (!file.write(b)) await once(file, 'drain');
  };
  for (const { path, st } of listing) {
    const abs = join(tree, path);
    if (st.isDirectory()) await put(tarHeader({ path: `${path}/`, type: 'dir', ...meta(st) }));
    else if (st.isSymbolicLink())
      await put(tarHeader({ path, type: 'symlink', linkname: readlinkSync(abs), ...meta(st) }));
    else if (st.isFile()) {
      await put(tarHeader({ path, type: 'file', size: st.size, ...meta(st) }));
      for await (const c of createReadStream(abs)) await put(c);
      await put(tarPadding(st.size));
    }
  }
  await put(tarEnd());
  file.end();
  await once(file, 'finish');
}

async function writeTarStream(out) {
  const pack = tarStream.pack();
  const done = pipeline(pack, createWriteStream(out));
  for (const { path, st } of listing) {
    const abs = join(tree, path);
    const m = { ...meta(st), mtime: new Date(st.mtimeMs) };
    if (st.isDirectory())
      await new Promise((res, rej) => pack.entry({ name: path, type: 'directory', ...m }, (e) => (e ? rej(e) : res())));
    else if (st.isSymbolicLink())
      await new Promise((res, rej) =>
        pack.entry({ name: path, type: 'symlink', linkname: readlinkSync(abs), ...m }, (e) => (e ? rej(e) : res()))
      );
    else if (st.isFile()) {
      await new Promise((res, rej) => {
        const sink = pack.entry({ name: path, type: 'file', size: st.size, ...m }, (e) => (e ? rej(e) : res()));
        createReadStream(abs).on('error', rej).pipe(sink);
      });
    }
  }
  pack.finalize();
  await done;
}

async function exportOnce(writer) {
  const out = join(work, `export-${writer}.tar`);
  const t0 = performance.now();
  await (writer === 'ours' ? writeOurs(out) : writeTarStream(out));
  const ms = performance.now() - t0;
  rmSync(out, { force: true });
  return ms;
}

// --- run -----------------------------------------------------------------------------------
const cases = [
  ['import tar', (r) => unpackOnce(r, plain)],
  ['import tar.gz', (r) => unpackOnce(r, gz)],
  ['parse tar', (r) => parseOnce(r, plain)],
  ['parse tar.gz', (r) => parseOnce(r, gz)],
  ['export tar', (r) => exportOnce(r)],
];
const samples = Object.fromEntries(cases.map(([name]) => [name, { ours: [], 'tar-stream': [] }]));
for (const [, run] of cases) {
  await run('ours');
  await run('tar-stream');
} // warm-up
for (let i = 0; i < n; i++) {
  for (const [name, run] of cases) {
    const order = i % 2 === 0 ? ['ours', 'tar-stream'] : ['tar-stream', 'ours'];
    for (const r of order) samples[name][r].push(await run(r));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`tree ${tree}: ${files} entries, ${mib} MiB as tar; ${n} rounds, ${asRoot ? 'as root' : 'rootless'}`);
console.log(`${'case'.padEnd(16)}${'ours ms'.padStart(10)}${'tar-stream ms'.padStart(16)}${'ratio'.padStart(8)}`);
const rows = [];
for (const [name] of cases) {
  const a = median(samples[name].ours),
    b = median(samples[name]['tar-stream']);
  rows.push({ case: name, ours: a, tarStream: b, ratio: b / a });
  console.log(
    `${name.padEnd(16)}${a.toFixed(0).padStart(10)}${b.toFixed(0).padStart(16)}${(b / a).toFixed(2).padStart(8)}`
  );
}
if (args.json) {
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(root, 'bench', 'results', `tar-${Date.now()}.json`),
    JSON.stringify({ tree, files, n, rows, samples }, null, 2)
  );
}
rmSync(work, { recursive: true, force: true });

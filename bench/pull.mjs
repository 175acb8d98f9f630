#!/usr/bin/env node
// Pull time of a ~100 MB multi-layer image from a local registry (Debian's docker-registry on
// 127.0.0.1): `Image.pull` into a fresh store (download, verify, unpack: a runnable image) next
// to `skopeo copy docker://… oci:DIR` of the same image (download and verify only, nothing
// unpacked), and skopeo copy followed by `Image.fromOCI` (the way to a runnable image before
// pull existed). Medians of --n rounds, alternating; ratios against skopeo copy.
//
//   node bench/pull.mjs [--n 5] [--mb 100] [--layers 4] [--json]      (needs `npx tsup` first)
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { Image, LayerStore } = await import(join(root, 'dist', 'index.js'));
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '5' },
    mb: { type: 'string', default: '100' },
    layers: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(args.n);
const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'sandkit-bench-pull-'));

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** A layer directory of `mb` MiB in 1 MiB files: 2/3 random bytes, 1/3 text (real layers compress 2–3×). */
function layerDir(dir, mb, seed) {
  mkdirSync(join(dir, 'data', String(seed)), { recursive: true });
  const text = Buffer.from(`line ${seed} of a text file that compresses\n`.repeat(30000)).subarray(0, 1 << 20);
  for (let i = 0; i < mb; i++)
    writeFileSync(join(dir, 'data', String(seed), `f${i}`), i % 3 === 2 ? text : randomBytes(1 << 20));
}

const port = await freePort();
const host = `127.0.0.1:${port}`;
mkdirSync(join(work, 'storage'));
writeFileSync(
  join(work, 'config.yml'),
  `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'storage')}\nhttp:\n  addr: ${host}\n`
);
const registry = spawn('/usr/bin/docker-registry', ['serve', join(work, 'config.yml')], { stdio: 'ignore' });
try {
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://${host}/v2/`);
      break;
    } catch {
      if (i > 200) throw new Error('docker-registry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  // The image: one directory per layer.
  const layers = Number(args.layers);
  const per = Math.ceil(Number(args.mb) / layers);
  const dirs = [];
  for (let l = 0; l < layers; l++) {
    const d = join(work, `layer-${l}`);
    layerDir(d, per, l);
    dirs.push(d);
  }
  // A tar per layer, an OCI layout of them, then skopeo pushes it (gzip) as any image would be.
  const layout = join(work, 'layout');
  const tars = dirs.map((d, i) => {
    const t = join(work, `l${i}.tar`);
    execFileSync('tar', ['-C', d, '-cf', t, '.']);
    return t;
  });
  execFileSync('umoci', ['init', '--layout', layout]);
  execFileSync('umoci', ['new', '--image', `${layout}:bench`]);
  for (const t of tars) execFileSync('umoci', ['raw', 'add-layer', '--image', `${layout}:bench`, t]);
  execFileSync('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${layout}:bench`,
    `docker://${host}/bench/img:1`,
  ]);
  const manifest = JSON.parse(
    execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/bench/img:1`], {
      encoding: 'utf8',
    })
  );
  const blobBytes = manifest.layers.reduce((a, l) => a + l.size, 0);

  const times = { pull: [], skopeo: [], skopeoImport: [] };
  const skopeoCopy = (to) =>
    run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/bench/img:1`, `oci:${to}:x`]);
  for (let round = 0; round < n; round++) {
    const dir = join(work, `round-${round}`);
    mkdirSync(dir);
    let t = performance.now();
    await Image.pull(`${host}/bench/img:1`, { store: new LayerStore(join(dir, 'store')) });
    times.pull.push(performance.now() - t);
    t = performance.now();
    await skopeoCopy(join(dir, 'oci'));
    times.skopeo.push(performance.now() - t);
    t = performance.now();
    await skopeoCopy(join(dir, 'oci2'));
    await Image.fromOCI(join(dir, 'oci2'), { store: new LayerStore(join(dir, 'store2')) });
    times.skopeoImport.push(performance.now() - t);
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const result = {
    layers: manifest.layers.length,
    blobMiB: +(blobBytes / 1048576).toFixed(1),
    unpackedMiB: per * layers,
    medianMs: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v)])),
    ratioPullVsSkopeo: +(m.pull / m.skopeo).toFixed(2),
    ratioPullVsSkopeoThenImport: +(m.pull / m.skopeoImport).toFixed(2),
    rounds: n,
    root: process.getuid?.() === 0,
  };
  if (args.json) console.log(JSON.stringify(result));
  else {
    console.log(
      `image: ${result.layers} layers, ${result.blobMiB} MiB of blobs (gzip), ${result.unpackedMiB} MiB unpacked; ${n} rounds`
    );
    console.log(`Image.pull (download + verify + unpack)   ${result.medianMs.pull} ms`);
    console.log(`skopeo copy docker:// → oci: (no unpack)  ${result.medianMs.skopeo} ms`);
    console.log(`skopeo copy + Image.fromOCI               ${result.medianMs.skopeoImport} ms`);
    console.log(
      `ratio pull / skopeo copy: ${result.ratioPullVsSkopeo}; pull / (skopeo copy + import): ${result.ratioPullVsSkopeoThenImport}`
    );
  }
} finally {
  registry.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}

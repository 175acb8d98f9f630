#!/usr/bin/env node
// Snapshot cost against image size: a busybox image padded to 10 MB, 100 MB and 1 GB (real
// data, 1 MiB files), a sandbox that writes 4 KiB, then `sandbox.snapshot()`; the median of
// --n runs per size. The copy is of the writable layer only, so the cost should stay flat.
// A last row writes 10 MB instead, to show that the cost follows the size of the changes.
//
//   node bench/snapshot.mjs [--n 5] [--sizes 10,100,1000] [--json]      (needs `npx tsup` first)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { Image, LayerStore, Sandbox } = await import(join(root, 'dist', 'index.js'));
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '5' },
    sizes: { type: 'string', default: '10,100,1000' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(args.n);
const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'sandkit-bench-snap-'));
const store = new LayerStore(join(work, 'store'));

function image(mb) {
  const dir = join(work, `img-${mb}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  symlinkSync('busybox', join(dir, 'bin', 'sh'));
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < mb; i++) writeFileSync(join(dir, 'data', `f${i}`), chunk);
  return Image.fromDirectory(dir);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(img, write) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const sb = new Sandbox({ image: img });
    await sb.run(['/bin/sh', '-c', write]);
    const t0 = performance.now();
    const snap = await sb.snapshot({ store });
    times.push(performance.now() - t0);
    await sb.destroy();
    Image.remove(snap.id, { store });
  }
  await Image.gc({ store });
  return median(times);
}

const rows = [];
try {
  for (const mb of args.sizes.split(',').map(Number)) {
    const img = image(mb);
    rows.push({
      imageMB: mb,
      changedKB: 4,
      snapshotMs: await measure(img, 'busybox dd if=/dev/urandom of=/out bs=4k count=1 2>/dev/null'),
    });
    if (mb === Math.max(...args.sizes.split(',').map(Number))) {
      rows.push({
        imageMB: mb,
        changedKB: 10240,
        snapshotMs: await measure(img, 'busybox dd if=/dev/urandom of=/out bs=1M count=10 2>/dev/null'),
      });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (args.json) console.log(JSON.stringify(rows));
else {
  console.log(
    `snapshot cost (median of ${n}), ${process.getuid() === 0 ? 'root' : 'rootless'}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`
  );
  console.log('image MB  changed KB  snapshot ms');
  for (const r of rows)
    console.log(
      `${String(r.imageMB).padStart(8)}  ${String(r.changedKB).padStart(10)}  ${r.snapshotMs.toFixed(1).padStart(11)}`
    );
}

#!/usr/bin/env node
// Spawn latency: sandkit against child_process.spawn and bubblewrap, with a small Node heap and
// again with ~1 GiB of live heap. Forking Node costs more the more memory it maps; sandkit asks
// its small helper to fork instead, so its cost should stay flat. See bench/README.md.
//
//   node bench/spawn.mjs [--n 200] [--big-n 50] [--warmup 10] [--heap-mib 1024] [--json]
//   (or BENCH_N, BENCH_BIG_N, BENCH_WARMUP, BENCH_HEAP_MIB)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BWRAP_ARGS } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: process.env.BENCH_N ?? '200' },
    'big-n': { type: 'string', default: process.env.BENCH_BIG_N ?? '50' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '10' },
    'heap-mib': { type: 'string', default: process.env.BENCH_HEAP_MIB ?? '1024' },
    json: { type: 'boolean', default: false },
  },
});
const smallN = positive('n', args.n);
const bigN = positive('big-n', args['big-n']);
const warmup = positive('warmup', args.warmup);
const heapMiB = positive('heap-mib', args['heap-mib']);

// The big-heap phase needs room for the ballast and a callable gc(): re-run with those flags.
if (!process.env.SANDKIT_BENCH_CHILD) {
  const flags = [`--max-old-space-size=${Math.max(4096, heapMiB * 3)}`, '--expose-gc'];
  const res = spawnSync(process.execPath, [...flags, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, SANDKIT_BENCH_CHILD: '1' },
  });
  process.exit(res.status ?? 1);
}

// The targets of issue 15, as ratios of medians of one run (small heap).
const TARGETS = [
  { what: 'cold create + spawn `true` + destroy', key: 'sandkit-lifecycle', base: 'bwrap', max: 0.6 },
  { what: 'spawn into a started sandbox', key: 'sandkit-spawn', base: 'child-process', max: 1.0 },
  { what: 'cold, from a snapshot', key: 'sandkit-snapshot', base: 'sandkit-lifecycle', max: 1.2 },
];

const notes = [];
const sandkit = await loadSandkit();
const bwrapProblem = await check(() => spawnAwait('bwrap', BWRAP_ARGS));
if (bwrapProblem) notes.push(`bwrap skipped: ${bwrapProblem}`);

let started; // the already-started sandbox of case (d)
let snap; // the snapshot case (e) starts its sandboxes from
const cases = [
  { key: 'sandkit-lifecycle', label: '(a) sandkit create+spawn+destroy', run: sandkitLifecycle, needs: 'sandkit' },
  { key: 'child-process', label: '(b) child_process.spawn', run: () => spawnAwait('true', []) },
  { key: 'bwrap', label: '(c) bwrap', run: () => spawnAwait('bwrap', BWRAP_ARGS), needs: 'bwrap' },
  { key: 'sandkit-spawn', label: '(d) sandkit spawn, started sandbox', run: sandkitSpawn, needs: 'sandkit' },
  { key: 'sandkit-snapshot', label: '(e) sandkit cold, from a snapshot', run: sandkitFromSnapshot, needs: 'sandkit' },
].filter((c) => (c.needs === 'sandkit' ? sandkit.ok : c.needs === 'bwrap' ? !bwrapProblem : true));

if (sandkit.ok) {
  started = new sandkit.Sandbox({ image: sandkit.Image.host(), network: 'none' });
  await started.start();
  // A snapshot as a judge makes one: the host image plus a file written into it.
  const build = new sandkit.Sandbox({ image: sandkit.Image.host(), network: 'none' });
  await build.files.write('/solution.txt', 'built\n');
  snap = await build.snapshot();
  await build.destroy();
}

console.log(
  `sandkit spawn bench: node ${process.version}, Linux ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, uid ${process.getuid()}`
);
console.log(
  `each case runs \`true\` and waits for it (stdin ignored, stdout/stderr piped); ${warmup} warm-up runs per case and phase`
);
for (const note of notes) console.log(`note: ${note}`);

const phases = [];
phases.push(await measurePhase('small heap', smallN));
printTargets(phases[0]);
allocate(heapMiB * 1024 * 1024);
phases.push(await measurePhase('big heap', bigN));
printGrowth(phases);

if (started) await started.destroy();
if (args.json) writeJson(phases);
process.exitCode = sandkit.ok ? 0 : 1;

// --- cases -----------------------------------------------------------------------------------

async function sandkitLifecycle() {
  const sandbox = new sandkit.Sandbox({ image: sandkit.Image.host(), network: 'none' });
  try {
    expectOk(await sandbox.spawn(['true'], { stdin: 'ignore' }));
  } finally {
    await sandbox.destroy();
  }
}

async function sandkitFromSnapshot() {
  const sandbox = new sandkit.Sandbox({ image: snap, network: 'none' });
  try {
    expectOk(await sandbox.spawn(['true'], { stdin: 'ignore' }));
  } finally {
    await sandbox.destroy();
  }
}

async function sandkitSpawn() {
  expectOk(await started.spawn(['true'], { stdin: 'ignore' }));
}

function expectOk(result) {
  if (result.exitCode !== 0) throw new Error(`true exited with ${result.exitCode ?? result.signal}: ${result.stderr}`);
}

function spawnAwait(command, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

// --- setup -----------------------------------------------------------------------------------

async function loadSandkit() {
  const dist = join(root, 'dist', 'index.js');
  if (!existsSync(dist)) {
    console.log('dist/ is missing: building it with tsup');
    const res = spawnSync('npx', ['tsup'], { cwd: root, stdio: 'inherit' });
    if (res.status !== 0) throw new Error('npx tsup failed');
  }
  const mod = await import(dist);
  const problem = await check(async () => {
    const sandbox = new mod.Sandbox({ image: mod.Image.host(), network: 'none' });
    try {
      expectOk(await sandbox.run(['true']));
    } finally {
      await sandbox.destroy();
    }
  });
  if (problem) notes.push(`sandkit cases skipped: ${problem}`);
  return { ok: !problem, Sandbox: mod.Sandbox, Image: mod.Image };
}

/** Runs fn once; returns why it failed, or undefined. */
async function check(fn) {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err.code === 'ENOENT' ? 'not installed' : String(err.message ?? err).split('\n')[0];
  }
}

/** Holds about `bytes` of live JS objects in a global until the process ends. */
function allocate(bytes) {
  const t0 = performance.now();
  const held = (globalThis.sandkitBenchBallast = []);
  while (process.memoryUsage().heapUsed < bytes) {
    const chunk = new Array(100_000);
    for (let i = 0; i < chunk.length; i++) chunk[i] = { i, s: `item ${i}`, next: null };
    held.push(chunk);
  }
  globalThis.gc();
  const mem = process.memoryUsage();
  console.log(
    `\nallocated ${mib(mem.heapUsed)} of live heap in ${((performance.now() - t0) / 1000).toFixed(1)} s (rss ${mib(mem.rss)})`
  );
}

// --- measuring -------------------------------------------------------------------------------

async function measurePhase(name, n) {
  const samples = Object.fromEntries(cases.map((c) => [c.key, []]));
  // One case at a time: the kernel tears a destroyed sandbox down in the background, and that
  // work must not be billed to the case that happens to run next.
  for (const c of cases) {
    globalThis.gc();
    for (let i = 0; i < warmup; i++) await c.run();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await c.run();
      samples[c.key].push(performance.now() - t0);
    }
  }
  const mem = process.memoryUsage();
  const phase = { name, iterations: n, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, cases: {} };
  for (const c of cases)
    phase.cases[c.key] = { label: c.label, ...stats(samples[c.key]), samplesMs: samples[c.key].map(round) };
  printPhase(phase);
  return phase;
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  const p95 = s[Math.max(0, Math.ceil(s.length * 0.95) - 1)];
  return { medianMs: round(median), p95Ms: round(p95), minMs: round(s[0]), maxMs: round(s.at(-1)) };
}

// --- output ----------------------------------------------------------------------------------

function printPhase(phase) {
  const base = phase.cases['child-process']?.medianMs;
  const bw = phase.cases.bwrap?.medianMs;
  console.log(
    `\n${phase.name}: rss ${mib(phase.rssBytes)}, heap used ${mib(phase.heapUsedBytes)}, ${phase.iterations} iterations`
  );
  console.log(
    `  ${'case'.padEnd(38)}${'median ms'.padStart(10)}${'p95 ms'.padStart(9)}${'vs child_process'.padStart(18)}${'vs bwrap'.padStart(10)}`
  );
  for (const c of Object.values(phase.cases)) {
    const vsCp = base ? `${(c.medianMs / base).toFixed(2)}×` : '-';
    const vsBw = bw ? `${(c.medianMs / bw).toFixed(2)}×` : '-';
    console.log(
      `  ${c.label.padEnd(38)}${c.medianMs.toFixed(2).padStart(10)}${c.p95Ms.toFixed(2).padStart(9)}${vsCp.padStart(18)}${vsBw.padStart(10)}`
    );
  }
}

function printTargets(phase) {
  console.log(`\ntargets (${phase.name}, ratio of medians):`);
  for (const t of TARGETS) {
    const c = phase.cases[t.key];
    const b = phase.cases[t.base];
    if (!c || !b) {
      console.log(`  ${t.what} ≤ ${t.max.toFixed(2)}× ${t.base}: not measured`);
      continue;
    }
    const ratio = c.medianMs / b.medianMs;
    const verdict =
      ratio <= t.max
        ? 'met'
        : `missed by ${(ratio - t.max).toFixed(2)}× (${(c.medianMs - t.max * b.medianMs).toFixed(2)} ms too slow)`;
    console.log(
      `  ${`${t.what} ≤ ${t.max.toFixed(2)}× ${b.label.slice(4)}`.padEnd(76)} ${ratio.toFixed(2)}×  ${verdict}`
    );
    phase.targets = [...(phase.targets ?? []), { ...t, ratio, met: ratio <= t.max }];
  }
}

function printGrowth([small, big]) {
  const parts = Object.entries(big.cases).map(
    ([key, c]) => `${c.label.slice(0, 3)} ${(c.medianMs / small.cases[key].medianMs).toFixed(2)}×`
  );
  console.log(`\nmedian, big heap / small heap: ${parts.join('  ')}`);
}

function writeJson(phases) {
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const file = join(dir, `spawn-${stamp}.json`);
  const host = {
    node: process.version,
    kernel: release(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim(),
    uid: process.getuid(),
  };
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), host, warmup, notes, phases }, null, 2)}\n`);
  console.log(`results written to ${relative(process.cwd(), file)}`);
}

function positive(name, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --${name} must be a positive integer, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

function mib(bytes) {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

function round(ms) {
  return Math.round(ms * 1000) / 1000;
}

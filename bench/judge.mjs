#!/usr/bin/env node
// Per-test-case overhead of a judge loop. A C solution (a+b) is compiled with gcc, copied into
// a sandbox and frozen into a snapshot, as a judge does once per submission. Then, per test
// case: (a) a fresh sandbox from that snapshot runs the solution with the case's stdin, the
// output is checked and the sandbox destroyed; (b) the binary is run directly with
// child_process.spawn — the baseline; (c) the solution runs in one sandbox started beforehand
// (a judge that reuses the sandbox across the cases of a submission). Limits as a judge sets
// them (cpuTime, wallTime, memory, output, pids) and the default hardening are on.
//
//   npm run bench:judge            (node bench/judge.mjs --n 100 --warmup 10 [--json])
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { Sandbox, LayerStore, Image } = await import(join(root, 'dist', 'index.js'));
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: process.env.BENCH_N ?? '100' },
    warmup: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(args.n);
const warmup = Number(args.warmup);
const limits = { cpuTime: '1s', wallTime: '3s', memory: '256M', output: '1M', pids: 64 };

const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'sandkit-bench-judge-'));
const solution = join(work, 'sol');
execFileSync('gcc', ['-O2', '-o', solution, join(root, 'test', 'fixtures', 'judge', 'sum.c')]);
const cases = Array.from({ length: n + warmup }, (_, i) => ({ input: `${i} ${2 * i}\n`, expected: `${3 * i}\n` }));

function direct(input) {
  return new Promise((resolve, reject) => {
    const child = spawn(solution, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', () => resolve(out));
    child.stdin.end(input);
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];

async function measure(name, runCase) {
  const wall = [];
  const cpu = [];
  for (let i = 0; i < cases.length; i++) {
    const t0 = performance.now();
    const { stdout, cpuMs } = await runCase(cases[i]);
    const ms = performance.now() - t0;
    if (stdout !== cases[i].expected) throw new Error(`${name}: case ${i}: wrong output ${JSON.stringify(stdout)}`);
    if (i >= warmup) {
      wall.push(ms);
      if (cpuMs !== undefined) cpu.push(cpuMs);
    }
  }
  return { name, wall, cpu };
}

const store = new LayerStore(join(work, 'store'));
mkdirSync(join(work, 'store'), { recursive: true });
let snap;
const rows = [];
try {
  const build = new Sandbox();
  await build.files.write('/sol', execFileSync('cat', [solution]), { mode: 0o755 });
  const t0 = performance.now();
  snap = await build.snapshot({ store });
  const snapshotMs = performance.now() - t0;
  await build.destroy();

  rows.push(
    await measure('(a) fresh sandbox from the snapshot per case', async ({ input }) => {
      const sb = new Sandbox({ image: snap });
      try {
        const r = await sb.run(['/sol'], { stdin: input, limits });
        return { stdout: r.stdout, cpuMs: r.cpuTimeMs.total };
      } finally {
        await sb.destroy();
      }
    })
  );
  rows.push(await measure('(b) the binary run directly', async ({ input }) => ({ stdout: await direct(input) })));
  const shared = new Sandbox({ image: snap });
  await shared.start();
  rows.push(
    await measure('(c) one started sandbox, a spawn per case', async ({ input }) => {
      const r = await shared.run(['/sol'], { stdin: input, limits });
      return { stdout: r.stdout, cpuMs: r.cpuTimeMs.total };
    })
  );
  await shared.destroy();

  const base = median(rows[1].wall);
  console.log(
    `judge loop: ${n} cases (after ${warmup} warm-up), snapshot of the submission ${snapshotMs.toFixed(1)} ms`
  );
  console.log('  case                                              median ms   p95 ms   vs direct   CPU ms (median)');
  for (const r of rows) {
    const cpu = r.cpu.length ? median(r.cpu).toFixed(2) : '-';
    console.log(
      `  ${r.name.padEnd(48)} ${median(r.wall).toFixed(2).padStart(9)} ${p95(r.wall).toFixed(2).padStart(8)} ${(median(r.wall) / base).toFixed(2).padStart(10)}× ${cpu.padStart(12)}`
    );
  }
  console.log(
    `  per-case overhead of a fresh sandbox: ${(median(rows[0].wall) - base).toFixed(2)} ms; of a spawn in a started one: ${(median(rows[2].wall) - base).toFixed(2)} ms`
  );
  if (args.json) {
    const dir = join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `judge-${Date.now()}.json`), JSON.stringify({ n, warmup, snapshotMs, rows }, null, 1));
  }
} finally {
  if (snap) {
    Image.remove(snap.id, { store });
    await Image.gc({ store });
  }
  rmSync(work, { recursive: true, force: true });
}

#!/usr/bin/env node
// Where a cold sandbox's time goes: runs `new Sandbox(...)`, `spawn(['true'])`, `destroy()`
// --n times with SANDKIT_TRACE_STEPS on (the helper and Node time their steps, trace.h and
// src/platform/step-trace.ts) and prints each step's median. See bench/README.md, "Cold path".
//
//   node bench/cold-profile.mjs [--n 200] [--warmup 10] [--json] [--root <package dir>]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    // another build's package root (dist/ and native/build/), to compare two builds in one sitting
    root: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), '..') },
  },
});
const n = Number(args.n);
const warmup = Number(args.warmup);

if (!process.env.SANDKIT_TRACE_STEPS) {
  const dir = mkdtempSync(join(tmpdir(), 'sandkit-trace-'));
  const file = join(dir, 'steps.txt');
  const res = spawnSync(process.execPath, process.argv.slice(1), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SANDKIT_TRACE_STEPS: file },
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    process.stdout.write(res.stdout ?? '');
    process.exit(res.status ?? 1);
  }
  const { totals } = JSON.parse(res.stdout);
  report(parse(readFileSync(file, 'utf8')), totals);
  rmSync(dir, { recursive: true, force: true });
} else {
  const { Sandbox, Image } = await import(join(args.root, 'dist', 'index.js'));
  const totals = [];
  for (let i = 0; i < warmup + n; i++) {
    const t0 = performance.now();
    const sandbox = new Sandbox({ image: Image.host(), network: 'none' });
    const result = await sandbox.spawn(['true'], { stdin: 'ignore' });
    await sandbox.destroy();
    if (result.exitCode !== 0) throw new Error(`true exited with ${result.exitCode}`);
    if (i >= warmup) totals.push((performance.now() - t0) * 1000);
  }
  process.stdout.write(JSON.stringify({ totals }));
}

function parse(text) {
  const steps = new Map();
  for (const line of text.split('\n')) {
    const [who, what, us] = line.split(' ');
    if (!us) continue;
    const key = `${who} ${what}`;
    if (!steps.has(key)) steps.set(key, []);
    steps.get(key).push(Number(us));
  }
  return steps;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function report(steps, totals) {
  const rows = [...steps].map(([key, xs]) => ({ key, count: xs.length / (n + warmup), median: median(xs) }));
  if (args.json) {
    console.log(JSON.stringify({ n, warmup, totalMedianUs: median(totals), rows }, null, 2));
    return;
  }
  console.log(`cold create + spawn true + destroy, ${n} runs (+${warmup} warm-up), tracing on`);
  console.log(`median total ${(median(totals) / 1000).toFixed(2)} ms\n`);
  console.log(`  ${'process'.padEnd(8)} ${'step'.padEnd(32)} ${'per run'.padStart(7)} ${'median µs'.padStart(10)}`);
  for (const r of rows)
    console.log(
      `  ${r.key.split(' ')[0].padEnd(8)} ${r.key.split(' ')[1].padEnd(32)} ${r.count.toFixed(1).padStart(7)} ${String(Math.round(r.median)).padStart(10)}`
    );
}

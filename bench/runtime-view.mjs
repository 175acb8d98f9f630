#!/usr/bin/env node
// What the runtime view costs a spawn (docs/limits.md "What programs see"): the cgroup files at
// /sys/fs/cgroup, the /proc files and the effective limits on the spawn's cgroup, against the
// same sandbox without them (procView: 'host', no cgroup namespace), run side by side.
//
//   node bench/runtime-view.mjs [--n 200] [--warmup 10] [--json]
import { cpus, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Sandbox } from '../dist/index.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: process.env.BENCH_N ?? '200' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '10' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(args.n);
const warmup = Number(args.warmup);
const limits = process.getuid?.() === 0 ? { memory: '256M', cpus: 1 } : { cpuset: [0] };

const variants = {
  view: { limits },
  'no view': { limits, procView: 'host', namespaces: { cgroup: false } },
};

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p90: at(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const sandboxes = {};
for (const [name, options] of Object.entries(variants)) {
  sandboxes[name] = new Sandbox(options);
  await sandboxes[name].start();
}
const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
try {
  // Interleaved, so load from elsewhere on the machine falls on both alike.
  for (let i = 0; i < warmup + n; i++) {
    for (const name of Object.keys(variants)) {
      const t0 = performance.now();
      const r = await sandboxes[name].run(['/bin/true']);
      if (r.status !== 'ok') throw new Error(`${name}: ${r.status} ${r.stderr}`);
      if (i >= warmup) samples[name].push(performance.now() - t0);
    }
  }
} finally {
  for (const sb of Object.values(sandboxes)) await sb.destroy();
}
const out = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
const ratio = out.view.median / out['no view'].median;
if (args.json) {
  console.log(JSON.stringify({ n, limits, results: out, ratio }, null, 2));
} else {
  console.log(
    `spawn of /bin/true, ${n} runs each, limits ${JSON.stringify(limits)}, ${cpus().length} CPUs, Linux ${release()}`
  );
  for (const [k, v] of Object.entries(out))
    console.log(
      `  ${k.padEnd(8)} median ${v.median.toFixed(2)} ms  p90 ${v.p90.toFixed(2)} ms  mean ${v.mean.toFixed(2)} ms`
    );
  console.log(`  view / no view (median): ${ratio.toFixed(3)} (${((ratio - 1) * 100).toFixed(1)}% added)`);
}

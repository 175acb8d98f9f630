#!/usr/bin/env node
// Pool benchmark: latency of one `true` (bare child_process, bubblewrap, a cold sandbox,
// pool.run, a spawn into a started sandbox), sustained throughput at 1, 4 and 16 in flight, and
// the host memory of 100 idle started sandboxes; then each figure against issue #15's targets.
// See bench/README.md, section "Pool".
//
//   node bench/pool.mjs [--n 100] [--warmup 5] [--seconds 3] [--idle 100] [--json]
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  BWRAP_ARGS,
  check,
  expectOk,
  loadSandkit,
  machineLine,
  mib,
  positive,
  root,
  sleep,
  spawnAwait,
  summary,
  verdict,
} from './lib.mjs';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    idle: { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  },
});
const n = Math.round(positive('n', args.n));
const warmup = Math.round(positive('warmup', args.warmup));
const seconds = positive('seconds', args.seconds);
const idleCount = Math.round(positive('idle', args.idle));

const { Sandbox, SandboxPool, Image } = await loadSandkit();
const HOST = { image: Image.host(), network: 'none' };
const notes = [];
const bwrapProblem = await check(() => spawnAwait('bwrap', BWRAP_ARGS));
if (bwrapProblem) notes.push(`bwrap skipped: ${bwrapProblem}`);

console.log(machineLine('sandkit pool bench'));
for (const note of notes) console.log(`note: ${note}`);

const results = { latency: {}, throughput: {}, memory: undefined };
await latency();
await throughputs();
results.memory = await idleMemory();
printTargets();
if (args.json) writeJson();

// --- latency ---------------------------------------------------------------------------------

async function latency() {
  const started = new Sandbox(HOST);
  await started.start();
  const pool = new SandboxPool({ size: 4, ...HOST });
  const cases = [
    { key: 'child', label: 'child_process.spawn', run: () => spawnAwait('true', []) },
    !bwrapProblem && { key: 'bwrap', label: 'bwrap', run: () => spawnAwait('bwrap', BWRAP_ARGS) },
    { key: 'cold', label: 'sandkit cold (new+run+destroy)', run: cold },
    // Refilled and torn down between runs (not timed): the latency a request sees when the pool keeps up.
    {
      key: 'pool',
      label: 'pool.run, warm pool',
      before: () => quiet(pool),
      run: () => pool.run(['true']).then(expectOk),
    },
    { key: 'warm', label: 'spawn, started sandbox', run: () => started.run(['true']).then(expectOk) },
  ].filter(Boolean);
  // One case at a time: a destroyed sandbox's teardown must not be billed to the next case.
  for (const c of cases) {
    for (let i = 0; i < warmup; i++) {
      await c.before?.();
      await c.run();
    }
    const samples = [];
    for (let i = 0; i < n; i++) {
      await c.before?.();
      const t0 = performance.now();
      await c.run();
      samples.push(performance.now() - t0);
    }
    results.latency[c.key] = { label: c.label, ...summary(samples) };
  }
  await pool.destroy();
  await started.destroy();

  const base = results.latency.child.medianMs;
  const bw = results.latency.bwrap?.medianMs;
  console.log(
    `\nlatency of one \`true\`, ${n} runs per case after ${warmup} warm-up runs (stdin ignored, stdout/stderr piped)`
  );
  console.log(
    `  ${'case'.padEnd(34)}${'median ms'.padStart(10)}${'p95 ms'.padStart(9)}${'vs child_process'.padStart(18)}${'vs bwrap'.padStart(10)}`
  );
  for (const c of Object.values(results.latency)) {
    const vsBw = bw ? `${(c.medianMs / bw).toFixed(2)}×` : '-';
    console.log(
      `  ${c.label.padEnd(34)}${c.medianMs.toFixed(2).padStart(10)}${c.p95Ms.toFixed(2).padStart(9)}${`${(c.medianMs / base).toFixed(2)}×`.padStart(18)}${vsBw.padStart(10)}`
    );
  }
}

/** The pool full again and its last release torn down, so the timed run competes with nothing of ours. */
async function quiet(pool) {
  await pool.ready();
  while (pool.stats().destroying > 0) await sleep(2);
}

async function cold() {
  const sandbox = new Sandbox(HOST);
  try {
    expectOk(await sandbox.run(['true']));
  } finally {
    await sandbox.destroy();
  }
}

// --- throughput ------------------------------------------------------------------------------

async function throughputs() {
  const levels = [1, 4, 16];
  const kinds = [
    !bwrapProblem && { key: 'bwrap', label: 'bwrap', op: () => () => spawnAwait('bwrap', BWRAP_ARGS) },
    { key: 'cold', label: 'new Sandbox+run+destroy', op: () => cold },
    {
      key: 'pool',
      label: 'pool.run (size = in flight)',
      setup: async (inFlight) => {
        const pool = new SandboxPool({ size: inFlight, refillConcurrency: 4, ...HOST });
        await pool.ready();
        return pool;
      },
      op: (pool) => () => pool.run(['true']).then(expectOk),
      teardown: (pool) => pool.destroy(),
    },
  ].filter(Boolean);
  console.log(`\nthroughput: sandboxes/s, each running \`true\` and destroyed, ${seconds} s per cell`);
  console.log(`  ${'kind'.padEnd(30)}${levels.map((l) => `${l} in flight`.padStart(14)).join('')}`);
  for (const kind of kinds) {
    results.throughput[kind.key] = { label: kind.label };
    const cells = [];
    for (const inFlight of levels) {
      const state = await kind.setup?.(inFlight);
      const rate = await sustained(kind.op(state), inFlight);
      await kind.teardown?.(state);
      await sleep(300); // let the kernel finish tearing down before the next cell
      results.throughput[kind.key][inFlight] = Math.round(rate * 10) / 10;
      cells.push(rate.toFixed(1).padStart(14));
    }
    console.log(`  ${kind.label.padEnd(30)}${cells.join('')}`);
  }
  console.log('  (pool: refillConcurrency 4; its background destroys run inside the window and are billed to it)');
}

/** Completions per second with `inFlight` workers each running `op` in a loop for `seconds`. */
async function sustained(op, inFlight) {
  let done = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    })
  );
  return done / ((performance.now() - t0) / 1000);
}

// --- idle memory -----------------------------------------------------------------------------

/**
 * Host memory of `idleCount` started sandboxes with nothing running: the proportional set size
 * (Pss) of every process in each sandbox (init) plus the helper's growth, the kernel objects
 * (slab, page tables, kernel stacks) that appeared, and as a cross-check the drop of MemAvailable.
 * System-wide counters move with whatever else the machine runs: each is sampled 5 times.
 */
async function idleMemory() {
  const helper = helperPid();
  const before = await settledMeminfo();
  const helperBefore = helper ? pss(helper) : 0;
  const rssBefore = process.memoryUsage().rss;
  const sandboxes = [];
  const t0 = performance.now();
  for (let i = 0; i < idleCount; i += 4) {
    const batch = Array.from({ length: Math.min(4, idleCount - i) }, () => new Sandbox(HOST));
    await Promise.all(batch.map((s) => s.start()));
    sandboxes.push(...batch);
  }
  const startMs = performance.now() - t0;
  const after = await settledMeminfo();
  const helperAfter = helper ? pss(helper) : 0;
  const rssAfter = process.memoryUsage().rss;
  let treePss = 0;
  let processes = 0;
  for (const s of sandboxes) {
    for (const pid of tree(s.pid)) {
      treePss += pss(pid);
      processes++;
    }
  }
  // Sandboxes that share a cgroup (rootless without delegation) would count it once per sandbox.
  const cgroups = new Map(sandboxes.map((s) => cgroupOf(s.pid)).filter(Boolean));
  await Promise.all(sandboxes.map((s) => s.destroy()));

  const delta = (k) => after[k] - before[k];
  const kernel = delta('Slab') + delta('PageTables') + delta('KernelStack');
  const per = (bytes) => bytes / idleCount;
  const m = {
    count: idleCount,
    startMs: Math.round(startMs),
    processesPerSandbox: processes / idleCount,
    initPssBytes: per(treePss),
    helperPssBytes: per(helperAfter - helperBefore),
    kernelBytes: per(kernel),
    slabBytes: per(delta('Slab')),
    pageTablesBytes: per(delta('PageTables')),
    kernelStackBytes: per(delta('KernelStack')),
    shmemBytes: per(delta('Shmem')),
    memAvailableDropBytes: per(before.MemAvailable - after.MemAvailable),
    cgroups: cgroups.size,
    cgroupBytes: cgroups.size === idleCount ? per([...cgroups.values()].reduce((a, b) => a + b, 0)) : null,
    nodeRssBytes: per(rssAfter - rssBefore),
  };
  m.hostBytes = m.initPssBytes + m.helperPssBytes + m.kernelBytes;
  console.log(
    `\nmemory of ${idleCount} idle started sandboxes (started 4 at a time in ${(startMs / 1000).toFixed(1)} s), per sandbox:`
  );
  console.log(`  processes in it                  ${m.processesPerSandbox.toFixed(1)}`);
  console.log(`  Pss of its processes             ${mib(m.initPssBytes)}`);
  console.log(`  helper's Pss growth              ${mib(m.helperPssBytes)}`);
  console.log(
    `  kernel objects                   ${mib(m.kernelBytes)}  (slab ${mib(m.slabBytes)}, page tables ${mib(m.pageTablesBytes)}, kernel stacks ${mib(m.kernelStackBytes)})`
  );
  console.log(`  = host memory per sandbox        ${mib(m.hostBytes)}`);
  console.log(
    `  cross-checks: MemAvailable drop ${mib(m.memAvailableDropBytes)}, shmem ${mib(m.shmemBytes)}, cgroup memory ${m.cgroupBytes === null ? `n/a (${m.cgroups} distinct cgroups)` : mib(m.cgroupBytes)}, Node rss ${mib(m.nodeRssBytes)}`
  );
  return m;
}

function meminfo() {
  const out = {};
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

/** The median of 5 samples of each counter, 100 ms apart. */
async function settledMeminfo() {
  await sleep(500);
  const samples = [];
  for (let i = 0; i < 5; i++) {
    samples.push(meminfo());
    await sleep(100);
  }
  const out = {};
  for (const k of Object.keys(samples[0])) out[k] = samples.map((s) => s[k]).sort((a, b) => a - b)[2];
  return out;
}

function pss(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `pid` and its descendants. */
function tree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function helperPid() {
  return tree(process.pid)
    .slice(1)
    .find((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('sandkit-helper');
      } catch {
        return false;
      }
    });
}

/** [path, bytes]: the memory cgroup `pid` lives in and the memory charged to it (v2 memory.current, v1 memory.usage_in_bytes). */
function cgroupOf(pid) {
  try {
    for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
      const [, controllers, path] = line.split(':');
      const files =
        controllers === 'memory'
          ? [`/sys/fs/cgroup/memory${path}/memory.usage_in_bytes`]
          : controllers === '' && path
            ? [`/sys/fs/cgroup${path}/memory.current`, `/sys/fs/cgroup/unified${path}/memory.current`]
            : [];
      for (const file of files) {
        try {
          return [file, Number(readFileSync(file, 'utf8'))];
        } catch {
          // not this mount
        }
      }
    }
  } catch {
    // no cgroup we can read
  }
  return undefined;
}

// --- targets ---------------------------------------------------------------------------------

function printTargets() {
  const lat = results.latency;
  const tp = results.throughput;
  const rows = [];
  const ratio = (a, b) => (a !== undefined && b !== undefined ? a / b : undefined);
  const add = (what, value, limit, higher = false) =>
    rows.push([
      what,
      value === undefined ? '-' : `${value.toFixed(2)}×`,
      `${higher ? '≥' : '≤'} ${limit}×`,
      value === undefined ? 'not measured' : verdict(value, limit, higher),
    ]);
  add('cold vs bwrap', ratio(lat.cold.medianMs, lat.bwrap?.medianMs), 0.6);
  add('pool.run vs bwrap', ratio(lat.pool.medianMs, lat.bwrap?.medianMs), 0.3);
  add('pool.run vs child_process', ratio(lat.pool.medianMs, lat.child.medianMs), 1.2);
  add('warm spawn vs child_process', ratio(lat.warm.medianMs, lat.child.medianMs), 1.0);
  add('throughput @4: cold vs bwrap', ratio(tp.cold[4], tp.bwrap?.[4]), 2, true);
  add('throughput @4: pool vs bwrap', ratio(tp.pool[4], tp.bwrap?.[4]), 2, true);
  const mem = results.memory.hostBytes / 1024 ** 2;
  console.log('\ntargets (issue #15; ratios of medians from this run):');
  for (const [what, value, limit, v] of rows)
    console.log(`  ${what.padEnd(32)}${value.padStart(8)}  target ${limit.padEnd(7)} ${v}`);
  console.log(
    `  ${'idle sandbox host memory'.padEnd(32)}${`${mem.toFixed(2)}`.padStart(5)} MiB  target ≤ 1 MiB  ${verdict(mem, 1)}`
  );
}

function writeJson() {
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const file = join(dir, `pool-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine: machineLine('pool'), notes, ...results }, null, 2)}\n`
  );
  console.log(`results written to ${relative(process.cwd(), file)}`);
}

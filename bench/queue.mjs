#!/usr/bin/env node
// sandkit/queue throughput and overhead, on this machine, against a redis-server of its own
// (127.0.0.1, a free port, no persistence). Two jobs: `true` (one step, no compile) and a small C
// judge job (gcc, snapshot, 3 tests from it). For each:
//   - jobs/s with one worker process, then with two (`sandkit worker --concurrency C --pool 2`),
//     N jobs submitted at once;
//   - latency of one job at a time through the queue next to the same work done directly in this
//     process (`pool.run(['true'])` on a SandboxPool; the C job compiled, snapshotted and its tests
//     run with the Sandbox API), and their ratio: the queue's overhead per job.
//
//   node bench/queue.mjs [--n 100] [--c-n 20] [--latency-n 20] [--concurrency 2] [--json]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { Sandbox, SandboxPool } = await import(join(root, 'dist', 'index.js'));
const { RunQueue } = await import(join(root, 'dist', 'queue.js'));
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100' },
    'c-n': { type: 'string', default: '20' },
    'latency-n': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const CN = Number(args['c-n']);
const LN = Number(args['latency-n']);
const rootless = process.getuid() !== 0;
const work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'sandkit-bench-queue-'));

const TRUE_JOB = { steps: [{ cmd: ['true'] }] };
const C_SUM =
  '#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 2;printf("%ld\\n",a+b);return 0;}\n';
const C_TESTS = [
  { stdin: '1 2', expect: '3' },
  { stdin: '-5 5', expect: '0' },
  { stdin: '20 22', expect: '42' },
];
const limits = { cpuTime: '1s', wallTime: '3s' };
const C_JOB = {
  files: { '/src/main.c': C_SUM },
  steps: [{ cmd: ['gcc', '-O2', '-o', '/src/main', '/src/main.c'], snapshotAfter: true }],
  run: ['/src/main'],
  tests: C_TESTS.map((t) => ({ ...t, limits })),
};

// --- redis-server ---------------------------------------------------------------------------
const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const redis = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work],
  {
    stdio: 'ignore',
  }
);
const url = `redis://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  const ok = await new Promise((r) => {
    const c = connect(port, '127.0.0.1', () => {
      c.end();
      r(true);
    });
    c.on('error', () => r(false));
  });
  if (ok) break;
  if (i > 200) throw new Error('redis-server did not start');
  await new Promise((r) => setTimeout(r, 50));
}

// --- workers as child processes ---------------------------------------------------------------
function startWorker(name, queue) {
  const stateDir = join(work, name);
  mkdirSync(stateDir, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      join(root, 'dist', 'cli.js'),
      'worker',
      '--redis',
      url,
      '--queue',
      queue,
      '--id',
      name,
      '--concurrency',
      args.concurrency,
      '--pool',
      '2',
      ...(rootless ? ['--limit-fallback', 'rlimit'] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SANDKIT_STATE_DIR: stateDir } }
  );
  const ready = new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('"event":"ready"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited ${code}`)));
  });
  return { child, ready, exited: new Promise((r) => child.once('exit', r)) };
}

async function stopWorkers(workers) {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function throughput(label, job, n, workerCount) {
  const queueName = `tp-${label}-${workerCount}`;
  const workers = Array.from({ length: workerCount }, (_, i) => startWorker(`w${i}-${queueName}`, queueName));
  await Promise.all(workers.map((w) => w.ready));
  const queue = new RunQueue({ connection: url, name: queueName, checkIntervalMs: 500 });
  // Warm-up: a few jobs, so each worker's pool and page cache are warm.
  await Promise.all(
    (await Promise.all(Array.from({ length: 2 * workerCount }, () => queue.submit(job)))).map((h) => h.result())
  );
  const t0 = performance.now();
  const handles = await Promise.all(Array.from({ length: n }, () => queue.submit(job)));
  const results = await Promise.all(handles.map((h) => h.result()));
  const seconds = (performance.now() - t0) / 1000;
  const bad = results.filter((r) => r.verdict !== 'accepted').length;
  if (bad) throw new Error(`${label}: ${bad} job(s) not accepted`);
  await queue.close();
  await stopWorkers(workers);
  return n / seconds;
}

async function queueLatency(label, job, n) {
  const queueName = `lat-${label}`;
  const workers = [startWorker(`w-${queueName}`, queueName)];
  await workers[0].ready;
  const queue = new RunQueue({ connection: url, name: queueName, checkIntervalMs: 500 });
  const samples = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    const r = await (await queue.submit(job)).result();
    if (r.verdict !== 'accepted') throw new Error(`${label}: ${r.verdict}`);
    if (i >= 3) samples.push(performance.now() - t0);
  }
  await queue.close();
  await stopWorkers(workers);
  return median(samples);
}

async function directTrue(n) {
  const pool = new SandboxPool({ size: 2, ...(rootless ? { limitFallback: 'rlimit' } : {}) });
  await pool.ready();
  const samples = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    const r = await pool.run(['true']);
    if (r.status !== 'ok') throw new Error(r.status);
    if (i >= 3) samples.push(performance.now() - t0);
  }
  await pool.destroy();
  return median(samples);
}

async function directC(n) {
  const opts = rootless ? { limitFallback: 'rlimit' } : {};
  const samples = [];
  for (let i = 0; i < n + 3; i++) {
    const t0 = performance.now();
    const build = new Sandbox(opts);
    await build.files.write('/src/main.c', C_SUM);
    const cc = await build.run(['gcc', '-O2', '-o', '/src/main', '/src/main.c']);
    if (cc.status !== 'ok') throw new Error(cc.stderr);
    const snap = await build.snapshot();
    await build.destroy();
    for (const t of C_TESTS) {
      const box = new Sandbox({ ...opts, image: snap });
      const r = await box.run(['/src/main'], { stdin: t.stdin, limits });
      await box.destroy();
      if (r.stdout.trim() !== t.expect) throw new Error(`wrong output ${r.stdout}`);
    }
    (await import(join(root, 'dist', 'index.js'))).Image.remove(snap.id);
    if (i >= 3) samples.push(performance.now() - t0);
  }
  return median(samples);
}

const out = {
  machine: { cpus: (await import('node:os')).availableParallelism(), rootless, concurrency: Number(args.concurrency) },
};
try {
  console.log(
    `sandkit/queue on ${out.machine.cpus} CPUs${rootless ? ' (rootless)' : ''}; each worker --concurrency ${args.concurrency} --pool 2`
  );
  const rows = [];
  for (const [label, job, n, direct] of [
    ['true', TRUE_JOB, N, directTrue],
    ['C judge (gcc + 3 tests)', C_JOB, CN, directC],
  ]) {
    const one = await throughput(label.split(' ')[0], job, n, 1);
    const two = await throughput(label.split(' ')[0], job, n, 2);
    const viaQueue = await queueLatency(label.split(' ')[0], job, LN);
    const directMs = await direct(LN);
    rows.push({
      job: label,
      jobsPerSecond1: one,
      jobsPerSecond2: two,
      queueMs: viaQueue,
      directMs,
      ratio: viaQueue / directMs,
    });
  }
  console.log(
    '\n| job | jobs/s, 1 worker | jobs/s, 2 workers | one job via the queue (median ms) | the same directly (median ms) | ratio |'
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.job} | ${r.jobsPerSecond1.toFixed(1)} | ${r.jobsPerSecond2.toFixed(1)} | ${r.queueMs.toFixed(1)} | ${r.directMs.toFixed(1)} | ${r.ratio.toFixed(2)}× |`
    );
  out.rows = rows;
  if (args.json) {
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    writeFileSync(join(root, 'bench', 'results', `queue-${Date.now()}.json`), JSON.stringify(out, null, 2));
  }
} finally {
  redis.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}

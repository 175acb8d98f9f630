// Shared by the spawn, pool and http-runner benchmarks: the bubblewrap peer, launching a command the way
// child_process users do, loading the built package, and summarising samples.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The same bubblewrap sandbox bench/spawn.mjs measures: every namespace, /usr read-only, own /proc, /dev, /tmp. */
export const BWRAP_ARGS = [
  '--unshare-all',
  '--die-with-parent',
  '--ro-bind',
  '/usr',
  '/usr',
  '--symlink',
  'usr/bin',
  '/bin',
  '--symlink',
  'usr/lib',
  '/lib',
  '--symlink',
  'usr/lib64',
  '/lib64',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '--tmpfs',
  '/tmp',
  'true',
];

/** Starts `command` like bench/spawn.mjs does (stdin ignored, stdout/stderr piped) and resolves once it closed with 0. */
export function spawnAwait(command, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} exited with ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/** The built package (dist/), built with tsup first if missing. */
export async function loadSandkit() {
  const dist = join(root, 'dist', 'index.js');
  if (!existsSync(dist)) {
    console.log('dist/ is missing: building it with tsup');
    const res = spawnSync('npx', ['tsup'], { cwd: root, stdio: 'inherit' });
    if (res.status !== 0) throw new Error('npx tsup failed');
  }
  return import(dist);
}

/** Runs fn once; returns why it failed, or undefined. */
export async function check(fn) {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err.code === 'ENOENT' ? 'not installed' : String(err.message ?? err).split('\n')[0];
  }
}

export function expectOk(result) {
  if (result.exitCode !== 0) throw new Error(`exited with ${result.exitCode ?? result.signal}: ${result.stderr}`);
}

/** Median, p95, p99, min and max of samples in ms. */
export function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))];
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return {
    medianMs: round(median),
    p95Ms: round(at(0.95)),
    p99Ms: round(at(0.99)),
    minMs: round(s[0]),
    maxMs: round(s.at(-1)),
  };
}

/** One line naming the machine and how loaded it is, printed first by every benchmark. */
export function machineLine(name) {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${name}: node ${process.version}, Linux ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, uid ${process.getuid()}, load average ${load}`;
}

/** `value` against a target `limit` (lower is better unless `higherIsBetter`): "met" or by how much it is missed. */
export function verdict(value, limit, higherIsBetter = false) {
  const ok = higherIsBetter ? value >= limit : value <= limit;
  if (ok) return 'met';
  const factor = higherIsBetter ? limit / value : value / limit;
  return `missed by ${factor.toFixed(2)}× (${Math.round((factor - 1) * 100)}%)`;
}

export function positive(name, value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`bench: --${name} must be a positive number, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

export function mib(bytes) {
  return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
}

export function round(ms) {
  return Math.round(ms * 1000) / 1000;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

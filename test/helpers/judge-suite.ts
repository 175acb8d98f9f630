import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox, Seccomp, type SpawnOptions, type SpawnResult } from '../../src/index.js';
import { ARCHES, hostArch } from '../../src/security/seccomp-bpf.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { requireFeature } from './require-feature.js';

const sources = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'judge');
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 2 ** 20;
const TMPFS_MAGIC = 0x01021994;

/** A directory of the test's own on a file system with a page cache to drop (not tmpfs, as /tmp is in the VM). */
function diskBackedDir(dir: string): string {
  if (statfsSync(dir).type !== TMPFS_MAGIC) return dir;
  mkdirSync(join(repoRoot, '.test-work'), { recursive: true });
  const other = mkdtempSync(join(repoRoot, '.test-work', 'judge-data-'));
  chmodSync(other, 0o755);
  return other;
}

/** What an online judge makes of a result (its adapter): the verdicts of the table. */
export function verdictOf(r: SpawnResult, expected?: string): string {
  switch (r.status) {
    case 'ok':
      return expected === undefined || r.stdout === expected ? 'AC' : 'WA';
    case 'time-limit':
      return 'TLE';
    case 'wall-time-limit':
      return 'WTLE';
    case 'memory-limit':
      return 'MLE';
    case 'output-limit':
      return 'OLE';
    case 'security-violation':
      return 'SV';
    default:
      return 'RE'; // nonzero-exit, signaled, file-size-limit
  }
}

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Compiles every C and C++ program of test/fixtures/judge into `dir` (gcc and g++ are needed). */
function compileAll(dir: string): void {
  for (const f of readdirSync(sources)) {
    const [name, ext] = f.split('.');
    if (ext === 'c') execFileSync('gcc', ['-O2', '-o', join(dir, name!), join(sources, f)]);
    else if (ext === 'cpp') execFileSync('g++', ['-O2', '-o', join(dir, `${name}-cpp`), join(sources, f)]);
    else copyFileSync(join(sources, f), join(dir, f));
  }
}

interface Row {
  name: string;
  argv: string[];
  verdict: string;
  stdin?: string;
  expected?: string;
  limits?: SpawnOptions['limits'];
  security?: SpawnOptions['security'];
  check?: (r: SpawnResult) => void;
  /** Needs the spawn's cgroup (CPU time, memory or pids limit): not in the rootless table. */
  cgroup?: boolean;
}

/**
 * The judge table: ordinary and hostile programs in C, C++, Python (and Java where a JDK is
 * installed) with the verdict a judge must reach from the result, then the accuracy a judge
 * relies on: CPU time from execve against the program's own getrusage, and memoryUsedBytes
 * with a cold and a warm page cache. Runs on cgroup v1 here and on v2 in the VM; rootless
 * (`'none'`: no cgroups) the rows that need none, with CPU time from rusage.
 */
export function defineJudgeSuite(backend: 'v1' | 'v2' | 'none'): void {
  const slack = process.env.SANDKIT_IN_VM === '1' ? 10 : 1;
  // Under TCG the kernel's exec and exit paths (page tables, faults) run 30–50× slower, not 10×:
  // a program's exit after its last getrusage measured 36–76 ms there (under 1 ms here). The
  // reaper's setup that used to be billed costs far more than that, so the rows still tell.
  const cpuSlack = process.env.SANDKIT_IN_VM === '1' ? 40 : 1;
  const J = '/judge';
  let dir = '';
  let dataDir = '';
  let sb: Sandbox;
  const cgroups = backend !== 'none';
  const base = cgroups
    ? { cpuTime: `${2 * slack}s`, wallTime: `${6 * slack}s`, memory: '256M', output: '1M' }
    : { wallTime: `${6 * slack}s`, output: '1M' };
  const kill = { seccomp: Seccomp.default().onViolation('kill') };
  const ptraceNr = ARCHES[hostArch() ?? 'x86_64'].table.ptrace;
  const javaRows: Row[] = [];
  const hasJava = has('javac') && has('java') && slack === 1; // a JVM under TCG takes minutes

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandkit-judge-'));
    chmodSync(dir, 0o755);
    compileAll(dir);
    if (hasJava) execFileSync('javac', ['-d', dir, join(sources, 'Hello.java')]);
    // A file of the test's own, for the page cache rows.
    dataDir = diskBackedDir(dir);
    writeFileSync(join(dataDir, 'data.bin'), Buffer.alloc(64 * MiB, 7));
    sb = new Sandbox({
      mounts: [
        { source: dir, target: J, readonly: true },
        { source: dataDir, target: '/data', readonly: true },
      ],
    });
  }, 300_000); // some twenty gcc/g++ runs (and javac), on a loaded machine
  afterAll(async () => {
    await sb?.destroy();
    if (dataDir && dataDir !== dir) removeTreeSync(dataDir);
    if (dir) removeTreeSync(dir);
  });

  const run = (argv: string[], o: SpawnOptions = {}) => sb.run(argv, { ...o, limits: { ...base, ...o.limits } });

  if (hasJava) {
    // Sized to fit an address-space limit: rootless, the default sandbox memory limit can only
    // be RLIMIT_AS, and a JVM's default reservations (1 GiB of class space alone) exceed it.
    javaRows.push({
      name: 'Java: sum (accepted)',
      argv: [
        'java',
        '-Xmx256m',
        '-XX:CompressedClassSpaceSize=64m',
        '-XX:ReservedCodeCacheSize=32m',
        '-cp',
        J,
        'Hello',
      ],
      stdin: '2 3\n',
      expected: '5\n',
      verdict: 'AC',
      limits: cgroups ? { cpuTime: '10s', wallTime: '30s', memory: '512M' } : { wallTime: '30s' },
    });
  } else {
    console.warn('judge table: no Java rows (no JDK installed, or inside the VM where a JVM takes minutes)');
  }

  const allRows: Row[] = [
    { name: 'C: sum (accepted)', argv: [`${J}/sum`], stdin: '2 3\n', expected: '5\n', verdict: 'AC' },
    { name: 'C: wrong sum (wrong answer)', argv: [`${J}/wrong`], stdin: '2 3\n', expected: '5\n', verdict: 'WA' },
    {
      name: 'C++: sum with iostream (accepted)',
      argv: [`${J}/sum-cpp`],
      stdin: '40 2\n',
      expected: '42\n',
      verdict: 'AC',
    },
    {
      name: 'Python: sum (accepted)',
      argv: ['python3', `${J}/sum.py`],
      stdin: '2 3\n',
      expected: '5\n',
      verdict: 'AC',
    },
    {
      cgroup: true,
      name: 'C: busy loop (CPU time limit)',
      argv: [`${J}/spin`, '0'],
      verdict: 'TLE',
      limits: { cpuTime: '500ms' },
      check: (r) => expect(r.cpuTimeMs.total).toBeLessThan(500 + 50 * slack),
    },
    {
      cgroup: true,
      name: 'Python: busy loop (CPU time limit)',
      argv: ['python3', `${J}/spin.py`, '0'],
      verdict: 'TLE',
      limits: { cpuTime: '500ms' },
    },
    {
      name: 'C: sleeps (wall time limit)',
      argv: [`${J}/sleep`],
      verdict: 'WTLE',
      limits: { wallTime: '500ms' },
      check: (r) => expect(r.cpuTimeMs.total).toBeLessThan(50 * slack),
    },
    {
      cgroup: true,
      name: 'C: malloc and touch 1 GiB (memory limit)',
      argv: [`${J}/hog`, '1024'],
      verdict: 'MLE',
      limits: { memory: '64M' },
      check: (r) => expect(r.oomKilled).toBe(true),
    },
    {
      cgroup: true,
      name: 'Python: bytearray of 1 GiB (memory limit)',
      argv: ['python3', `${J}/hog.py`],
      verdict: 'MLE',
      limits: { memory: '64M' },
    },
    {
      // cgroup v1 kills one process at OOM; the whole tree must go, so sh never echoes.
      cgroup: true,
      name: 'C hog under sh (memory limit, the tree ends)',
      argv: ['sh', '-c', `${J}/hog 1024; echo survived`],
      verdict: 'MLE',
      limits: { memory: '64M' },
      check: (r) => expect(r.stdout).not.toContain('survived'),
    },
    {
      cgroup: true,
      name: 'Python hog under sh (memory limit, the tree ends)',
      argv: ['sh', '-c', `python3 ${J}/hog.py; echo survived`],
      verdict: 'MLE',
      limits: { memory: '64M' },
      check: (r) => expect(r.stdout).not.toContain('survived'),
    },
    {
      name: 'C: null pointer write (runtime error)',
      argv: [`${J}/segv`],
      verdict: 'RE',
      check: (r) => expect(r.signal).toBe('SIGSEGV'),
    },
    {
      name: 'C++: uncaught exception (runtime error)',
      argv: [`${J}/abort-cpp`],
      verdict: 'RE',
      check: (r) => expect(r.signal).toBe('SIGABRT'),
    },
    {
      name: 'C: exit 3 (runtime error)',
      argv: [`${J}/exit3`],
      verdict: 'RE',
      check: (r) => expect(r).toMatchObject({ status: 'nonzero-exit', exitCode: 3 }),
    },
    {
      name: 'Python: exception (runtime error)',
      argv: ['python3', `${J}/raise.py`],
      verdict: 'RE',
      check: (r) => expect(r.exitCode).toBe(1),
    },
    { name: 'C: prints forever (output limit)', argv: [`${J}/flood`], verdict: 'OLE', limits: { output: '1M' } },
    {
      cgroup: true,
      name: 'C: fork bomb under pids 32 (pids limit, then CPU time)',
      argv: [`${J}/forkbomb`],
      verdict: 'TLE',
      limits: { pids: 32, cpuTime: '1s' },
      check: (r) => expect(r.pidsLimitHit).toBe(true),
    },
    {
      name: 'C: 512 MiB static array under addressSpace 256M (fails at once)',
      argv: [`${J}/bigarray`],
      verdict: 'RE',
      limits: { addressSpace: '256M' },
      check: (r) => {
        expect(['SIGSEGV', 'SIGKILL']).toContain(r.signal); // execve fails past its point of no return
        expect(r.wallTimeMs).toBeLessThan(1000 * slack);
      },
    },
    {
      name: 'C: 512 MiB static array, no address-space limit (accepted)',
      argv: [`${J}/bigarray`],
      expected: 'ran\n',
      verdict: 'AC',
    },
    {
      name: 'C++: vector of 512 MiB under addressSpace 256M (bad_alloc)',
      argv: [`${J}/bigvector-cpp`],
      verdict: 'RE',
      limits: { addressSpace: '256M' },
      check: (r) => expect(r.signal).toBe('SIGABRT'),
    },
    {
      name: 'C: ptrace under onViolation(kill) (security violation naming the call)',
      argv: [`${J}/ptrace`],
      verdict: 'SV',
      security: kill,
      check: (r) => {
        expect(r.violation).toEqual({ syscall: 'ptrace', number: ptraceNr });
        expect(r).toMatchObject({ signal: 'SIGSYS', stdout: 'before\n' }); // the call never returned
      },
    },
    {
      name: 'C: ptrace under sh and onViolation(kill) (the tree ends)',
      argv: ['sh', '-c', `${J}/ptrace; echo survived`],
      verdict: 'SV',
      security: kill,
      check: (r) => {
        expect(r.violation?.syscall).toBe('ptrace');
        expect(r.stdout).toBe('before\n');
      },
    },
    {
      name: 'C: ptrace under the default policy (fails with EPERM, runs on)',
      argv: [`${J}/ptrace`],
      expected: 'before\nafter\n',
      verdict: 'AC',
      check: (r) => expect(r.violation).toBeNull(),
    },
    ...javaRows,
  ];
  const rows = allRows.filter((row) => cgroups || !row.cgroup);

  describe(`judge table (cgroup ${backend})`, () => {
    it.each(rows)('$name → $verdict', async (row) => {
      const r = await run(row.argv, { stdin: row.stdin ?? 'ignore', limits: row.limits, security: row.security });
      expect(
        verdictOf(r, row.expected),
        JSON.stringify({ status: r.status, signal: r.signal, exitCode: r.exitCode, stderr: r.stderr.slice(0, 300) })
      ).toBe(row.verdict);
      row.check?.(r);
    });
  });

  describe(`judge accuracy (cgroup ${backend})`, () => {
    it('CPU time counts from execve: a program that does nothing shows no more than its own getrusage + 2 ms', async () => {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await run([`${J}/noop`]);
        const own = Number(r.stdout);
        seen.push(`${r.cpuTimeMs.total.toFixed(2)} (own ${own.toFixed(2)})`);
        expect(r.cpuTimeMs.total).toBeLessThanOrEqual(own + 2 * cpuSlack);
        const t = await run(['true']);
        seen.push(`true ${t.cpuTimeMs.total.toFixed(2)}`);
      }
      console.log(`cgroup ${backend}: CPU ms of a no-op (and of true): ${seen.join(', ')}`);
    });

    it('CPU time of a C spinner is within 5 ms of its own getrusage; the limit has the same zero', async () => {
      const diffs: number[] = [];
      for (const ms of [50, 300]) {
        const r = await run([`${J}/spin`, String(ms)]);
        const own = Number(r.stdout);
        expect(own).toBeGreaterThanOrEqual(ms);
        diffs.push(r.cpuTimeMs.total - own);
        expect(Math.abs(r.cpuTimeMs.total - own)).toBeLessThanOrEqual(5 * cpuSlack);
      }
      const py = await run(['python3', `${J}/spin.py`, '200']);
      diffs.push(py.cpuTimeMs.total - Number(py.stdout));
      console.log(
        `cgroup ${backend}: result − own getrusage, ms (C 50, C 300, Python 200): ${diffs.map((d) => d.toFixed(2)).join(', ')}`
      );
      // A program that spins just under the limit is not killed by our setup's CPU time.
      if (!cgroups) return; // a CPU time limit needs the spawn's cgroup
      const under = await run([`${J}/spin`, '400'], { limits: { cpuTime: `${cpuSlack === 1 ? 450 : 550}ms` } });
      expect(under.status).toBe('ok');
    });

    it('memoryUsedBytes agrees within 5% with a cold and a warm page cache, and with the allocation', async (ctx) => {
      requireFeature(ctx, cgroups, 'memoryUsedBytes needs a memory cgroup (root or a delegated cgroup)');
      const data = join(dataDir, 'data.bin');
      const drop = () => execFileSync(join(dir, 'drop-cache'), [data]);
      const byState: Record<'cold' | 'warm', SpawnResult[]> = { cold: [], warm: [] };
      for (const state of ['cold', 'warm', 'cold', 'warm'] as const) {
        if (state === 'cold') drop();
        const r = await run([`${J}/filemem`, '/data/data.bin', '48']);
        expect(r.status).toBe('ok');
        byState[state].push(r);
      }
      const used = [...byState.cold, ...byState.warm].map((r) => r.memoryUsedBytes!);
      const peaks = (s: 'cold' | 'warm') => byState[s].map((r) => r.memoryPeakBytes!);
      console.log(
        `cgroup ${backend}: memoryUsedBytes MiB (cold, cold, warm, warm): ${used.map((u) => (u / MiB).toFixed(2)).join(', ')}; memoryPeakBytes cold ${peaks('cold').map((p) => (p / MiB).toFixed(1))} warm ${peaks('warm').map((p) => (p / MiB).toFixed(1))}`
      );
      // The premise: a cold run is charged the file's page cache, so the raw peak differs.
      expect(Math.min(...peaks('cold'))).toBeGreaterThan(Math.max(...peaks('warm')) + 32 * MiB);
      for (const u of used) {
        expect(u).toBeGreaterThanOrEqual(48 * MiB);
        expect(u).toBeLessThan(48 * MiB * 1.05 + 4 * MiB);
      }
      expect(Math.max(...used) / Math.min(...used)).toBeLessThan(1.05);
    });
  });
}

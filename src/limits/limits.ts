import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { parseCpuList } from './cpu-list.js';
import { parseBytes, parseDuration, type ByteSize, type Duration } from './units.js';

/** Limits on a whole sandbox: every process in it counts together. */
export interface SandboxLimits {
  /** Memory of all processes together (swap is off); at least 4 MiB. @defaultValue '2G' */
  memory?: ByteSize;
  /** Processes and threads alive at once; at least 2. @defaultValue 4096 */
  pids?: number;
  /**
   * CPU bandwidth in cores (`1.5` = one and a half). Unless `cpuset` is given, programs are
   * also pinned to ceil(`cpus`) of the host's CPUs, so `nproc`, `os.cpus()` and Java's
   * `availableProcessors()` agree with the quota.
   */
  cpus?: number;
  /**
   * The CPUs programs may run on: a list as the kernel writes it (`'0-1,3'`) or CPU numbers
   * (`[0]`); each must be one this process may use. Enforced by the cpuset cgroup where the
   * host has one, and by each program's CPU affinity.
   */
  cpuset?: string | number[];
  /** Proportional I/O weight, 1–10000 (default 100); needs the v2 io controller. */
  ioWeight?: number;
  /**
   * Size of the writable layer together with /tmp, /run and /dev/shm: writes fail with ENOSPC
   * once they hold this much (a private tmpfs, so its pages count toward `memory` too); at
   * least 1 MiB. @defaultValue '1G', or half an explicit `memory` below 2 GiB
   */
  disk?: ByteSize;
}

/** Limits on one spawned program and everything it starts. */
export interface SpawnLimits {
  /** CPU time of the whole process tree; exceeding it ends the run with `'time-limit'`. */
  cpuTime?: Duration;
  /** Wall-clock time from start; exceeding it ends the run with `'wall-time-limit'`. */
  wallTime?: Duration;
  /** Memory of the tree; the kernel's OOM kill ends the run with `'memory-limit'`. */
  memory?: ByteSize;
  /** stdout + stderr bytes; exceeding it ends the run with `'output-limit'` (what is kept stops exactly at it). */
  output?: ByteSize;
  /** stdout bytes alone; exceeding it ends the run with `'output-limit'`. */
  stdout?: ByteSize;
  /** stderr bytes alone; exceeding it ends the run with `'output-limit'`. */
  stderr?: ByteSize;
  /** Largest file a process may write (RLIMIT_FSIZE); exceeding it ends the run with `'file-size-limit'`. */
  fileSize?: ByteSize;
  /** Open file descriptors per process (RLIMIT_NOFILE). @defaultValue 4096, at most half the helper's own */
  openFiles?: number;
  /** Stack size per process (RLIMIT_STACK). */
  stack?: ByteSize;
  /** Processes and threads of this spawn alive at once. */
  pids?: number;
  /**
   * Virtual address space per process (RLIMIT_AS), as judges use for C and C++: an allocation
   * past it fails at once, even when it is never touched (`new` throws, `malloc` returns NULL,
   * an oversized static array makes execve fail with SIGSEGV/SIGKILL). The program then usually
   * exits non-zero or dies of a signal: the status is `'nonzero-exit'` or `'signaled'` (a judge's
   * runtime error), not `'memory-limit'` — the kernel does not say the limit was the cause.
   * Wrong for JIT and garbage-collected runtimes (Java, Go, Node, .NET reserve far more address
   * space than they use); use `memory` for those.
   */
  addressSpace?: ByteSize;
}

/** Sandbox-wide limits, checked and in base units (bytes, counts, CPUs). */
export interface ResolvedSandboxLimits {
  /** Bytes of memory (with swap) for the whole sandbox. */
  memory?: number;
  /** Processes and threads at once. */
  pids?: number;
  /** CPU bandwidth, in CPUs (0.5 = half of one). */
  cpus?: number;
  /** The CPUs given as `cpuset`, sorted (checked against the host when the sandbox is made). */
  cpuset?: number[];
  /** Relative I/O weight. */
  ioWeight?: number;
  /** Bytes the writable layer may hold. */
  disk?: number;
  /** Limits that hold their default value (not given explicitly): enforced as far as the host can. */
  defaulted?: readonly DefaultedLimit[];
}

/** The sandbox limits that have a default. */
export type DefaultedLimit = 'memory' | 'pids' | 'disk';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * What `new Sandbox()` gets without `limits`: enough for compilers and test suites, too little
 * for one sandbox to take the host. Each is raised by giving it; `limits: 'unlimited'` drops all.
 */
export const DEFAULT_SANDBOX_LIMITS: Readonly<Record<DefaultedLimit, number>> = {
  memory: 2 * GiB,
  pids: 4096,
  disk: GiB,
};

/** Below these a sandbox could start but no program could run in it (exec alone needs more). */
export const MINIMUM_LIMITS = { memory: 4 * MiB, disk: MiB, pids: 2 } as const;

/** Durations are capped where they stop meaning anything (and stay exact as numbers). */
const MAX_DURATION_MS = 100 * 365 * 24 * 3_600_000;
/** One program's limits, checked and in base units (milliseconds, bytes, counts). */
export interface ResolvedSpawnLimits {
  /** CPU time of the program's whole tree, in milliseconds. */
  cpuTimeMs?: number;
  /** Time from start to end, in milliseconds. */
  wallTimeMs?: number;
  /** Bytes of memory of the program's tree. */
  memory?: number;
  /** Bytes of stdout and stderr together. */
  output?: number;
  /** Bytes of stdout. */
  stdout?: number;
  /** Bytes of stderr. */
  stderr?: number;
  /** Largest file the program may write, in bytes (RLIMIT_FSIZE). */
  fileSize?: number;
  /** Open file descriptors (RLIMIT_NOFILE). */
  openFiles?: number;
  /** Stack size in bytes (RLIMIT_STACK). */
  stack?: number;
  /** Processes and threads of the program's tree at once. */
  pids?: number;
  /** Virtual address space in bytes (RLIMIT_AS). */
  addressSpace?: number;
}

function checkKeys(value: object, allowed: string[], field: string): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) throw new SandboxOptionsError(`${field}.${key}`, 'unknown limit');
}

function positiveInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw new SandboxOptionsError(field, `expected a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  return value;
}

function positiveBytes(value: unknown, field: string, minimum = 1): number {
  const bytes = parseBytes(field, value);
  if (bytes < 1) throw new SandboxOptionsError(field, `must be more than 0, got ${JSON.stringify(value)}`);
  if (bytes < minimum)
    throw new SandboxOptionsError(
      field,
      `must be at least ${formatBytes(minimum)} (no program can run in less), got ${JSON.stringify(value)}`
    );
  if (!Number.isSafeInteger(bytes))
    throw new SandboxOptionsError(
      field,
      `must be at most ${Number.MAX_SAFE_INTEGER} bytes, got ${JSON.stringify(value)}`
    );
  return bytes;
}

function positiveDuration(value: unknown, field: string): number {
  const ms = parseDuration(field, value);
  if (ms <= 0) throw new SandboxOptionsError(field, `must be more than 0, got ${JSON.stringify(value)}`);
  if (ms > MAX_DURATION_MS)
    throw new SandboxOptionsError(field, `must be at most 100 years, got ${JSON.stringify(value)}`);
  return ms;
}

/** A size that may be 0, within what the helper takes (2^53 - 1, rlimits included). */
function boundedBytes(value: unknown, field: string): number {
  const bytes = parseBytes(field, value);
  if (!Number.isSafeInteger(bytes))
    throw new SandboxOptionsError(
      field,
      `must be at most ${Number.MAX_SAFE_INTEGER} bytes, got ${JSON.stringify(value)}`
    );
  return bytes;
}

function pidsLimit(value: unknown, field: string): number {
  const pids = positiveInt(value, field, 4_194_304);
  if (pids < MINIMUM_LIMITS.pids)
    throw new SandboxOptionsError(
      field,
      `must be at least ${MINIMUM_LIMITS.pids} (a program and one process it starts, such as a shell's command), got ${pids}`
    );
  return pids;
}

/** A size for messages: `4 MiB`, `1 GiB`, or bytes. */
export function formatBytes(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** Validates sandbox-wide limits. */
export function resolveSandboxLimits(value: unknown, field = 'limits'): ResolvedSandboxLimits {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new SandboxOptionsError(field, 'expected an object');
  checkKeys(value, ['memory', 'pids', 'cpus', 'cpuset', 'ioWeight', 'disk'], field);
  const v = value as SandboxLimits;
  const out: ResolvedSandboxLimits = {};
  if (v.memory !== undefined) out.memory = positiveBytes(v.memory, `${field}.memory`, MINIMUM_LIMITS.memory);
  if (v.pids !== undefined) out.pids = pidsLimit(v.pids, `${field}.pids`);
  if (v.cpus !== undefined) {
    if (typeof v.cpus !== 'number' || !(v.cpus >= 0.01) || !Number.isFinite(v.cpus))
      throw new SandboxOptionsError(
        `${field}.cpus`,
        `expected a number of cores of at least 0.01, got ${JSON.stringify(v.cpus)}`
      );
    out.cpus = v.cpus;
  }
  if (v.cpuset !== undefined) out.cpuset = parseCpuList(v.cpuset, `${field}.cpuset`);
  if (v.ioWeight !== undefined) out.ioWeight = positiveInt(v.ioWeight, `${field}.ioWeight`, 10_000);
  if (v.disk !== undefined) out.disk = positiveBytes(v.disk, `${field}.disk`, MINIMUM_LIMITS.disk);
  return out;
}

/**
 * The sandbox's limits as given, with {@link DEFAULT_SANDBOX_LIMITS} for memory, pids and disk
 * where they are not; `'unlimited'` means no sandbox limit at all.
 */
export function resolveSandboxLimitsWithDefaults(value: unknown, field = 'limits'): ResolvedSandboxLimits {
  if (value === 'unlimited') return {};
  if (typeof value === 'string')
    throw new SandboxOptionsError(field, `expected an object or 'unlimited', got ${JSON.stringify(value)}`);
  const out = resolveSandboxLimits(value, field);
  const defaulted: DefaultedLimit[] = [];
  const explicitMemory = out.memory;
  for (const name of ['memory', 'pids', 'disk'] as const) {
    if (out[name] !== undefined) continue;
    out[name] = DEFAULT_SANDBOX_LIMITS[name];
    defaulted.push(name);
  }
  // The disk's tmpfs pages are charged to the writers' memory: under a smaller explicit memory
  // limit, a default disk of half of it makes a full disk ENOSPC rather than an OOM kill.
  if (explicitMemory !== undefined && defaulted.includes('disk')) {
    out.disk = Math.max(MINIMUM_LIMITS.disk, Math.min(DEFAULT_SANDBOX_LIMITS.disk, Math.floor(explicitMemory / 2)));
  }
  if (defaulted.length > 0) out.defaulted = defaulted;
  return out;
}

/** Validates per-spawn limits. */
export function resolveSpawnLimits(value: unknown, field = 'limits'): ResolvedSpawnLimits {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new SandboxOptionsError(field, 'expected an object');
  checkKeys(
    value,
    [
      'cpuTime',
      'wallTime',
      'memory',
      'output',
      'stdout',
      'stderr',
      'fileSize',
      'openFiles',
      'stack',
      'pids',
      'addressSpace',
    ],
    field
  );
  const v = value as SpawnLimits;
  const out: ResolvedSpawnLimits = {};
  if (v.cpuTime !== undefined) out.cpuTimeMs = positiveDuration(v.cpuTime, `${field}.cpuTime`);
  if (v.wallTime !== undefined) out.wallTimeMs = positiveDuration(v.wallTime, `${field}.wallTime`);
  if (v.memory !== undefined) out.memory = positiveBytes(v.memory, `${field}.memory`, MINIMUM_LIMITS.memory);
  if (v.output !== undefined) out.output = boundedBytes(v.output, `${field}.output`);
  if (v.stdout !== undefined) out.stdout = boundedBytes(v.stdout, `${field}.stdout`);
  if (v.stderr !== undefined) out.stderr = boundedBytes(v.stderr, `${field}.stderr`);
  if (v.fileSize !== undefined) out.fileSize = boundedBytes(v.fileSize, `${field}.fileSize`);
  if (v.openFiles !== undefined) out.openFiles = positiveInt(v.openFiles, `${field}.openFiles`, 1 << 20);
  if (v.stack !== undefined) out.stack = positiveBytes(v.stack, `${field}.stack`);
  if (v.pids !== undefined) out.pids = pidsLimit(v.pids, `${field}.pids`);
  if (v.addressSpace !== undefined) out.addressSpace = positiveBytes(v.addressSpace, `${field}.addressSpace`);
  return out;
}

/** Limits that need a cgroup controller to be enforced. */
export function cgroupLimitNames(s: ResolvedSandboxLimits, p: ResolvedSpawnLimits = {}): string[] {
  const names: string[] = [];
  const explicit = (name: DefaultedLimit) => s[name] !== undefined && !s.defaulted?.includes(name);
  if (explicit('memory') || p.memory !== undefined) names.push('memory');
  if (explicit('pids') || p.pids !== undefined) names.push('pids');
  if (s.cpus !== undefined) names.push('cpu');
  if (s.ioWeight !== undefined) names.push('io');
  if (p.cpuTimeMs !== undefined) names.push('cpuTime'); // a whole tree's CPU time needs its cgroup
  return names;
}

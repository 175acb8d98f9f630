/**
 * Why a spawned program stopped: `'ok'` (exit 0), `'nonzero-exit'`, `'signaled'`, or the limit
 * that ended it: `'time-limit'` (CPU time), `'wall-time-limit'`, `'memory-limit'` (the kernel's
 * OOM killer fired), `'output-limit'` or `'file-size-limit'`; `'security-violation'`: a seccomp
 * filter killed it (SIGSYS, under `Seccomp.default().onViolation('kill')`).
 */
export type SpawnStatus =
  | 'ok' | 'nonzero-exit' | 'signaled'
  | 'time-limit' | 'wall-time-limit' | 'memory-limit' | 'output-limit' | 'file-size-limit'
  | 'security-violation';

/** The limit that ended a program. */
export type LimitName = 'cpuTime' | 'wallTime' | 'memory' | 'output' | 'fileSize';

/** Why `execve` failed, when the command could not be started at all. */
export interface ExecFailure {
  /** errno name, e.g. `ENOENT`. */
  errnoCode: string;
  /** The program that was looked up (`argv[0]`). */
  path: string;
  /** Human-readable reason, e.g. `No such file or directory`. */
  message: string;
}

/** CPU time in milliseconds. */
export interface CpuTime { user: number; system: number; total: number }

/**
 * The outcome of one spawned program. A non-zero exit or a limit is a fact on the result,
 * never a throw.
 */
export interface SpawnResult<Output extends string | Buffer = string> {
  /** The command that ran. */
  command: readonly string[];
  /** Why it stopped; see {@link SpawnStatus}. */
  status: SpawnStatus;
  /** Exit code when the program exited normally, else null. 127: not found, 126: not executable. */
  exitCode: number | null;
  /** Name of the signal that ended it (`'SIGKILL'`), else null. */
  signal: NodeJS.Signals | null;
  /** Pid of the program as seen on the host. */
  pid: number;
  /** Wall-clock time from start to exit in milliseconds (monotonic clock, µs resolution). */
  wallTimeMs: number;
  /**
   * CPU time of the whole process tree in milliseconds: from the spawn's cgroup (every process
   * that ran in it, µs resolution) or, without cgroups, from rusage of the reaped processes.
   */
  cpuTimeMs: CpuTime;
  /** Peak memory of the whole tree in bytes (cgroup memory.peak / max_usage_in_bytes), or null without a memory cgroup. */
  memoryPeakBytes: number | null;
  /** Largest resident set of any single process, in bytes (rusage). */
  maxRssBytes: number;
  /** True when the kernel's OOM killer killed a process of this spawn (from the cgroup's events, not guessed). */
  oomKilled: boolean;
  /** True when a fork failed because the pids limit was reached. */
  pidsLimitHit: boolean;
  /** The limit that ended the program, or null. */
  limitExceeded: LimitName | null;
  /**
   * Collected standard output, decoded as UTF-8 (a Buffer with `encoding: 'buffer'`): at most
   * `maxBuffer`, `limits.stdout` and `limits.output` bytes, stdout and stderr together never
   * more than `limits.output`. Empty when stdout went to a file, a pipe or /dev/null.
   */
  stdout: Output;
  /** Collected standard error, like `stdout`. */
  stderr: Output;
  /** True when stdout was cut (more than `maxBuffer`, or the output limit fired). */
  stdoutTruncated: boolean;
  /** True when stderr was cut. */
  stderrTruncated: boolean;
  /** Set when the program could not be executed (exit code 127 or 126). */
  execError: ExecFailure | null;
}

/** Decides the status of a finished program from how it ended and which limit fired. */
export function statusOf(exitCode: number | null, signal: string | null, limit: LimitName | null = null): SpawnStatus {
  switch (limit) {
    case 'cpuTime': return 'time-limit';
    case 'wallTime': return 'wall-time-limit';
    case 'memory': return 'memory-limit';
    case 'output': return 'output-limit';
    case 'fileSize': return 'file-size-limit';
    default: break;
  }
  if (signal === 'SIGSYS') return 'security-violation';
  if (signal) return 'signaled';
  return exitCode === 0 ? 'ok' : 'nonzero-exit';
}

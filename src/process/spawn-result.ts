/**
 * Why a spawned program stopped: `'ok'` (exit 0), `'nonzero-exit'`, `'signaled'`, or the limit
 * that ended it: `'time-limit'` (CPU time), `'wall-time-limit'`, `'memory-limit'` (the kernel's
 * OOM killer fired), `'output-limit'` or `'file-size-limit'`; `'security-violation'`: a seccomp
 * filter killed it (SIGSYS, under `Seccomp.default().onViolation('kill')`).
 */
export type SpawnStatus =
  | 'ok'
  | 'nonzero-exit'
  | 'signaled'
  | 'time-limit'
  | 'wall-time-limit'
  | 'memory-limit'
  | 'output-limit'
  | 'file-size-limit'
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

/** The system call a seccomp filter stopped (under `onViolation('kill')`). */
export interface SeccompViolation {
  /** Its name on the filter's architecture (`'ptrace'`), or `'<arch>:<number>'` when unknown. */
  syscall: string;
  /** Its number, as the kernel saw it (x32 calls carry bit 30). */
  number: number;
}

/** CPU time in milliseconds. */
export interface CpuTime {
  /** In user mode. */
  user: number;
  /** In the kernel on the program's behalf. */
  system: number;
  /** `user + system`: what `limits.cpuTime` is measured against. */
  total: number;
}

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
   * It counts from the command's fork (its few syscalls before `execve` included, as in the
   * program's own getrusage); sandkit's setup of the spawn is not in it.
   */
  cpuTimeMs: CpuTime;
  /**
   * Peak memory of the whole tree in bytes (cgroup memory.peak / max_usage_in_bytes), or null
   * without a memory cgroup. It includes the page cache of files the program was first to read,
   * so it depends on what ran before; see {@link memoryUsedBytes}.
   */
  memoryPeakBytes: number | null;
  /**
   * Peak of the tree's own memory in bytes: anonymous memory, shmem/tmpfs and kernel memory,
   * without the page cache of files (sampled every millisecond and at exit; docs/limits.md has
   * its precision). The same program gives the same figure with a cold or a warm cache. Null
   * without a memory cgroup.
   */
  memoryUsedBytes: number | null;
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
  /** The system call that ended the program with `'security-violation'`, when it is known. */
  violation: SeccompViolation | null;
}

/** Decides the status of a finished program from how it ended and which limit fired. */
export function statusOf(
  exitCode: number | null,
  signal: string | null,
  limit: LimitName | null = null,
  violated = false
): SpawnStatus {
  switch (limit) {
    case 'cpuTime':
      return 'time-limit';
    case 'wallTime':
      return 'wall-time-limit';
    case 'memory':
      return 'memory-limit';
    case 'output':
      return 'output-limit';
    case 'fileSize':
      return 'file-size-limit';
    default:
      break;
  }
  if (violated || signal === 'SIGSYS') return 'security-violation';
  if (signal) return 'signaled';
  return exitCode === 0 ? 'ok' : 'nonzero-exit';
}

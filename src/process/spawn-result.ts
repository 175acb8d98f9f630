/** Why a spawned program stopped. Later limits add their own verdicts. */
export type SpawnStatus = 'ok' | 'nonzero-exit' | 'signaled';

/** Why `execve` failed, when the command could not be started at all. */
export interface ExecFailure {
  /** errno name, e.g. `ENOENT`. */
  errnoCode: string;
  /** The program that was looked up (`argv[0]`). */
  path: string;
  /** Human-readable reason, e.g. `No such file or directory`. */
  message: string;
}

/**
 * The outcome of one spawned program. A non-zero exit is a fact on the result, never a throw.
 */
export interface SpawnResult {
  /** The command that ran. */
  command: readonly string[];
  /** `'ok'` (exit 0), `'nonzero-exit'` or `'signaled'`. */
  status: SpawnStatus;
  /** Exit code when the program exited normally, else null. 127: not found, 126: not executable. */
  exitCode: number | null;
  /** Name of the signal that ended it (`'SIGKILL'`), else null. */
  signal: NodeJS.Signals | null;
  /** Pid of the program as seen on the host. */
  pid: number;
  /** Wall-clock time from start to exit, in milliseconds (monotonic clock, µs resolution). */
  wallTimeMs: number;
  /** CPU time of the program and every descendant it reaped or left behind, in milliseconds. */
  cpuTimeMs: { user: number; system: number; total: number };
  /** Largest resident set of any single process of the tree, in bytes (from rusage). */
  maxRssBytes: number;
  /** Collected standard output (up to `maxBuffer`), decoded as UTF-8 unless `encoding: 'buffer'`. */
  stdout: string;
  /** Collected standard error (up to `maxBuffer`). */
  stderr: string;
  /** True when stdout held more than `maxBuffer` bytes and `stdout` was cut. */
  stdoutTruncated: boolean;
  /** True when stderr held more than `maxBuffer` bytes and `stderr` was cut. */
  stderrTruncated: boolean;
  /** Set when the program could not be executed (exit code 127 or 126). */
  execError: ExecFailure | null;
}

/** Decides the status of a finished program from its exit code and signal. */
export function statusOf(exitCode: number | null, signal: string | null): SpawnStatus {
  if (signal) return 'signaled';
  return exitCode === 0 ? 'ok' : 'nonzero-exit';
}

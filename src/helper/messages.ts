// Shapes of the JSON lines exchanged with the native helper (docs/protocol.md).


/** `config.net` of the helper's create request (docs/protocol.md). */
export interface NetCreateConfig {
  hostVeth: string;
  bridge: string;
  ifname: string;
  address: string;
  prefixLength: number;
  gateway: string | null;
  mtu: number;
}

export interface CreateConfig {
  namespaces: { user: boolean; uts: boolean; ipc: boolean; net: boolean; cgroup: boolean };
  uidMap: Array<[number, number, number]>;
  gidMap: Array<[number, number, number]>;
  hostname: string;
  /** `tmpfsUpper` (limits.disk): the tmpfs the helper mounts on `target` to hold upper/ and work/. */
  rootfs: { merged: string; overlayOptions: string; tmpfsUpper?: { target: string; options: string } };
  binds: Array<{ source: string; target: string; readonly: boolean }>;
  /** Read-only overlays of host directories (per-sandbox inodes, so locks stay private). */
  roOverlays?: Array<{ target: string; options: string }>;
  /** tmpfs mounts; with `quotaDir`, a directory of `rootfs.tmpfsUpper` bound there instead (one disk budget). */
  tmpfs: Array<{ target: string; options: string; quotaDir?: string }>;
  proc: boolean;
  dev: boolean;
  /** Attached to a network: the veth pair and address (omitted otherwise). */
  net?: NetCreateConfig;
}

export interface SpawnRequest {
  sandbox: string;
  process: string;
  argv: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  /**
   * Per fd: `'pipe'` (a socket to Node), `'null'`, `{ path, append?, limit? }` (a regular file
   * inside the sandbox, opened by the command as its user; `limit`: bytes an output file may
   * reach), `{ memfd }` (stdin: a host file Node wrote, copied into a sealed memfd) or
   * `{ pipe }` (an end of the named pipe: read for fd 0, write for 1 and 2).
   */
  stdio: StdioRequest[];
  /** Output files together may reach this many bytes (omitted: no limit). */
  outputLimit?: number;
  /** v2 cgroup directory the spawn starts in (CLONE_INTO_CGROUP), or null. */
  cgroup: string | null;
  /** v1 `cgroup.procs` files the spawn joins before the command starts. */
  cgroupProcs: string[];
  /** Give the spawn its own cgroup namespace (rooted at its cgroup). */
  cgroupns: boolean;
  /** The cgroup directory (v2 or v1) whose memory files the reaper samples; omitted: none. */
  memoryCgroup?: string;
  /** Resource limits set on the command before exec: [name, soft, hard]. */
  rlimits: Array<[RlimitName, number, number]>;
  /** Hardening applied by the command before exec (docs/security.md); omitted: none. */
  security?: { noNewPrivs: boolean; capabilities: string[]; seccomp: string | null };
  /** Paths the reaper masks or makes read-only after mounting the spawn's /proc. */
  masks?: { maskedPaths: string[]; readonlyPaths: string[] };
}

export type StdioRequest =
  | 'pipe' | 'null'
  | { path: string; append?: boolean; limit?: number }
  | { memfd: string }
  | { pipe: string };

export type RlimitName = 'fsize' | 'nofile' | 'stack' | 'core' | 'cpu' | 'as' | 'nproc';

/** The helper's error record: which step failed, in which call, with which errno, on which path. */
export interface HelperFailure {
  step: string;
  syscall: string | null;
  errno: number | null;
  errnoName: string | null;
  path: string | null;
  message: string;
}

export interface HelperErrorReply extends HelperFailure {
  type: 'error';
  req?: number;
  sandbox?: string | null;
  process?: string | null;
  /** Set when a `destroy` cut the create or spawn short. */
  destroyed?: boolean;
}

export interface ExitEvent {
  type: 'exit';
  sandbox: string;
  process: string;
  exitCode: number | null;
  signal: string | null;
  signo: number | null;
  wallUs: number;
  rusage: { userUs: number; systemUs: number; maxRssKb: number };
  execError: HelperFailure | null;
  /** Bytes kept in stdout/stderr files (null: that fd is not a file); cut to their limits. */
  outputFiles?: { stdout: number | null; stderr: number | null };
  /** True when an output file's limit ended the spawn. */
  outputFileLimit?: boolean;
  /** Peak of the tree's own memory sampled by the reaper (usage without file page cache), or null. */
  memoryUsedBytes?: number | null;
  /** The reaper ended the tree because its memory cgroup was in OOM (cgroup v1). */
  oomKilled?: boolean;
  /** The reaper ended the tree on a seccomp violation: syscall number and AUDIT_ARCH_*. */
  violation?: { nr: number; arch: number } | null;
  /** Set when the sandbox's init died under the program (not by `destroy`). */
  sandboxDied?: boolean;
}

export interface StepEvent { type: 'step'; sandbox: string; step: string }
export interface SandboxExitEvent { type: 'sandbox-exit'; sandbox: string; signal: string | null; exitCode: number | null }
export interface StdioHandleMessage { type: 'stdio'; process: string; fd: number }
/** The socket of a files channel (reply to an `fs` request). */
export interface FsHandleMessage { type: 'fs'; channel: string }

/** Any line the helper may send; unknown types are ignored by the reader. */
export type HelperMessage =
  | { type: 'hello'; version: number; pid: number }
  | { type: 'created'; req: number; sandbox: string; pid: number; upperFd?: number }
  | { type: 'spawned'; req: number; process: string; pid: number; nspid: number }
  | { type: 'ok'; req: number }
  | { type: 'destroyed'; req: number; sandbox: string }
  | { type: 'features'; req: number; features: Record<string, unknown> }
  | HelperErrorReply
  | ExitEvent
  | StepEvent
  | SandboxExitEvent;

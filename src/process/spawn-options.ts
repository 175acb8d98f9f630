import type { Readable } from 'node:stream';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { resolveSpawnLimits, type ResolvedSpawnLimits, type SpawnLimits } from '../limits/limits.js';
import { defaultSecurity, resolveSecurity, type SecurityOptions } from '../security/security-options.js';
import { SandboxPipeEnd } from './sandbox-pipe.js';

/** Who a program runs as inside the sandbox. */
export type UserSpec =
  | number
  | string
  | {
      /** User id inside the sandbox. */
      uid: number;
      /** Primary group id. @defaultValue the user's group in the image, else the uid */
      gid?: number;
      /** Supplementary group ids. @defaultValue none */
      groups?: number[];
    };

/** A regular file inside the sandbox as standard input, opened by the program's own user. */
export interface StdinFile {
  /** The file's path inside the sandbox. */
  path: string;
}
/** Data given to the program as a regular file (a sealed memfd): it can fstat, seek and mmap it. */
export interface StdinData {
  /** The file's contents (a string is written as UTF-8). */
  data: string | Uint8Array;
  /** Marks this as data to give as a file, not as a pipe. */
  asFile: true;
}
/**
 * A regular file inside the sandbox as stdout or stderr, created (as the program's user) or
 * truncated, or appended to with `append`. Its bytes count against `limits.output` and
 * `limits.stdout`/`limits.stderr`; past a limit the tree is killed and the file is cut to it.
 */
export interface OutputFile {
  /** The file's path inside the sandbox. */
  path: string;
  /** Append instead of truncating. @defaultValue false */
  append?: boolean;
}

/** Standard input of a spawn; see {@link SpawnOptions.stdin}. */
export type StdinOption = 'pipe' | 'ignore' | string | Uint8Array | Readable | StdinFile | StdinData | SandboxPipeEnd;
/** Standard output or error of a spawn; see {@link SpawnOptions.stdout}. */
export type OutputOption = 'pipe' | 'ignore' | OutputFile | SandboxPipeEnd;

/** Options of `sandbox.spawn()` and `sandbox.run()`. */
export interface SpawnOptions {
  /** Extra environment variables, over the sandbox's `env` and the PATH/HOME/TERM defaults. */
  env?: Record<string, string>;
  /** Working directory inside the sandbox. @defaultValue the sandbox's `cwd` ('/') */
  cwd?: string;
  /**
   * Standard input: `'pipe'` (write to `proc.stdin`), `'ignore'` (/dev/null), data to feed as
   * the program reads it and then close (a string, bytes, or a readable stream; a socket, with
   * back-pressure), `{ data, asFile: true }` (the data as a regular, sealed file),
   * `{ path }` (a file inside the sandbox) or a {@link SandboxPipe}'s `readEnd`.
   * @defaultValue 'pipe' for spawn(), 'ignore' for run()
   */
  stdin?: StdinOption;
  /**
   * `'pipe'` (readable on `proc.stdout` and collected), `'ignore'`, `{ path, append? }` (a
   * file inside the sandbox) or a {@link SandboxPipe}'s `writeEnd`. @defaultValue 'pipe'
   */
  stdout?: OutputOption;
  /** Like `stdout`. @defaultValue 'pipe' */
  stderr?: OutputOption;
  /** `'utf8'`: `result.stdout`/`stderr` are strings; `'buffer'`: Buffers, byte for byte. @defaultValue 'utf8' */
  encoding?: 'utf8' | 'buffer';
  /** uid (with gid = uid), a user name from the image's /etc/passwd, or `{ uid, gid, groups }`. @defaultValue 0 */
  user?: UserSpec;
  /** Aborting kills the program's whole tree and rejects with `SandboxAbortedError`. */
  signal?: AbortSignal;
  /** Bytes of each of stdout and stderr kept in the result; the rest is dropped and marked truncated. @defaultValue 16 MiB */
  maxBuffer?: number;
  /** Limits on this program and everything it starts; see {@link SpawnLimits}. */
  limits?: SpawnLimits;
  /** Hardening of this program; its fields override the sandbox's `security`. */
  security?: SecurityOptions;
  /**
   * A pseudo-terminal from the sandbox's own devpts as the program's stdin, stdout and stderr
   * (`isatty()` is true, it is the session's controlling terminal, so ^C and job control work):
   * `true` (80 x 24) or its size. What the program writes arrives on `proc.stdout` (stderr is the
   * same terminal) and counts against the output limits; `proc.stdin` goes to the terminal, whose
   * line discipline echoes and edits it (cooked mode) unless the program sets raw mode.
   * `proc.resize(cols, rows)` changes its size (SIGWINCH). Needs `stdout` and `stderr` `'pipe'`
   * and stdin from Node (`'pipe'`, data, a stream or `'ignore'`). @defaultValue false
   */
  tty?: boolean | TtySize;
}

/** The size of a spawn's terminal in character cells. */
export interface TtySize {
  /** Columns, 1 to 65535. @defaultValue 80 */
  cols?: number;
  /** Rows, 1 to 65535. @defaultValue 24 */
  rows?: number;
}

/** Validated spawn options. */
export interface ResolvedSpawnOptions {
  argv: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  stdin: StdinOption;
  stdout: OutputOption;
  stderr: OutputOption;
  encoding: 'utf8' | 'buffer';
  user: UserSpec;
  signal: AbortSignal | undefined;
  maxBuffer: number;
  limits: ResolvedSpawnLimits;
  /** The spawn's own security fields (validated), laid over the sandbox's when it starts. */
  security: SecurityOptions | undefined;
  /** The terminal's size, or undefined without one. */
  tty: Required<TtySize> | undefined;
}

const KNOWN_SPAWN_KEYS = new Set([
  'env',
  'cwd',
  'stdin',
  'stdout',
  'stderr',
  'encoding',
  'user',
  'signal',
  'maxBuffer',
  'limits',
  'security',
  'tty',
]);
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/** Checks a command and its options; throws `SandboxOptionsError` naming the bad field. */
export function resolveSpawnOptions(
  command: unknown,
  options: SpawnOptions = {},
  defaultStdin: 'pipe' | 'ignore' = 'pipe'
): ResolvedSpawnOptions {
  const argv = resolveCommand(command);
  if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
  for (const key of Object.keys(options))
    if (!KNOWN_SPAWN_KEYS.has(key)) throw new SandboxOptionsError(key, 'unknown spawn option');
  const stdin = resolveStdin(options.stdin ?? defaultStdin);
  const stdout = resolveOutput(options.stdout ?? 'pipe', 'stdout');
  const stderr = resolveOutput(options.stderr ?? 'pipe', 'stderr');
  if (options.encoding !== undefined && options.encoding !== 'utf8' && options.encoding !== 'buffer')
    throw new SandboxOptionsError('encoding', "expected 'utf8' or 'buffer'");
  const maxBuffer = options.maxBuffer ?? DEFAULT_MAX_BUFFER;
  if (!Number.isInteger(maxBuffer) || maxBuffer < 0)
    throw new SandboxOptionsError('maxBuffer', 'expected a non-negative integer number of bytes');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new SandboxOptionsError('signal', 'expected an AbortSignal');
  const limits = resolveSpawnLimits(options.limits, 'limits');
  const security = validSecurity(options.security);
  const tty = resolveTty(options.tty, stdin, stdout, stderr);
  return {
    argv,
    env: resolveEnv(options.env, 'env'),
    cwd: options.cwd === undefined ? undefined : resolveInsidePath(options.cwd, 'cwd'),
    stdin,
    stdout,
    stderr,
    encoding: options.encoding ?? 'utf8',
    user: resolveUserSpec(options.user ?? 0),
    signal: options.signal,
    maxBuffer,
    limits,
    security,
    tty,
  };
}

/** The terminal's size; its stdio must come from and go to Node (the helper relays it). */
function resolveTty(
  v: unknown,
  stdin: StdinOption,
  stdout: OutputOption,
  stderr: OutputOption
): Required<TtySize> | undefined {
  if (v === undefined || v === false) return undefined;
  if (v !== true && (typeof v !== 'object' || v === null))
    throw new SandboxOptionsError('tty', 'expected true, false or { cols, rows }');
  if (v !== true) onlyKeys(v, ['cols', 'rows'], 'tty');
  const size = v === true ? {} : (v as TtySize);
  const cells = (n: unknown, field: string, dflt: number) => {
    if (n === undefined) return dflt;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
      throw new SandboxOptionsError(field, `expected a whole number from 1 to 65535, got ${JSON.stringify(n)}`);
    return n;
  };
  if (stdout !== 'pipe' || stderr !== 'pipe')
    throw new SandboxOptionsError('tty', "the terminal is stdout and stderr: leave them 'pipe'");
  const fromNode =
    stdin === 'pipe' ||
    stdin === 'ignore' ||
    typeof stdin === 'string' ||
    stdin instanceof Uint8Array ||
    typeof (stdin as Readable).pipe === 'function';
  if (!fromNode || stdin instanceof SandboxPipeEnd)
    throw new SandboxOptionsError(
      'tty',
      "the terminal's input comes from Node: stdin must be 'pipe', data or a stream"
    );
  return { cols: cells(size.cols, 'tty.cols', 80), rows: cells(size.rows, 'tty.rows', 24) };
}

function resolveCommand(command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0)
    throw new SandboxOptionsError('command', 'expected a non-empty array of strings, e.g. ["sh", "-c", "echo hi"]');
  command.forEach((arg, i) => {
    if (typeof arg !== 'string') throw new SandboxOptionsError(`command[${i}]`, `expected a string, got ${typeof arg}`);
    if (arg.includes('\0')) throw new SandboxOptionsError(`command[${i}]`, 'contains a NUL byte');
  });
  if (command[0] === '') throw new SandboxOptionsError('command[0]', 'the program name is empty');
  return [...(command as string[])];
}

function resolveStdin(v: unknown): StdinOption {
  if (v === 'pipe' || v === 'ignore' || typeof v === 'string' || v instanceof Uint8Array) return v;
  if (v instanceof SandboxPipeEnd) return pipeEnd(v, 'read', 'stdin');
  if (typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function') return v as Readable;
  if (typeof v === 'object' && v !== null && 'path' in v) {
    onlyKeys(v, ['path'], 'stdin');
    return { path: resolveInsidePath((v as StdinFile).path, 'stdin.path') };
  }
  if (typeof v === 'object' && v !== null && 'data' in v) {
    onlyKeys(v, ['data', 'asFile'], 'stdin');
    const { data, asFile } = v as StdinData;
    if (typeof data !== 'string' && !(data instanceof Uint8Array))
      throw new SandboxOptionsError('stdin.data', 'expected a string or bytes');
    if (asFile !== true)
      throw new SandboxOptionsError('stdin.asFile', 'expected true (without it, give the data itself as stdin)');
    return { data, asFile };
  }
  throw new SandboxOptionsError(
    'stdin',
    "expected 'pipe', 'ignore', a string, bytes, a readable stream, { path }, { data, asFile: true } or a pipe's readEnd"
  );
}

function resolveOutput(v: unknown, field: 'stdout' | 'stderr'): OutputOption {
  if (v === 'pipe' || v === 'ignore') return v;
  if (v instanceof SandboxPipeEnd) return pipeEnd(v, 'write', field);
  if (typeof v === 'object' && v !== null && 'path' in v) {
    onlyKeys(v, ['path', 'append'], field);
    const { path, append } = v as OutputFile;
    if (append !== undefined && typeof append !== 'boolean')
      throw new SandboxOptionsError(`${field}.append`, 'expected a boolean');
    return { path: resolveInsidePath(path, `${field}.path`), ...(append && { append }) };
  }
  throw new SandboxOptionsError(field, "expected 'pipe', 'ignore', { path, append? } or a pipe's writeEnd");
}

/** Each end goes to one spawn; stdout and stderr of one spawn may share a write end. */
function pipeEnd(end: SandboxPipeEnd, want: 'read' | 'write', field: string): SandboxPipeEnd {
  if (end.end !== want) throw new SandboxOptionsError(field, `expected a pipe's ${want}End, got its ${end.end}End`);
  if (end.pipe.closed) throw new SandboxOptionsError(field, 'the pipe is closed');
  if (end.given) throw new SandboxOptionsError(field, `this ${end.end}End was already given to another spawn`);
  return end;
}

function onlyKeys(v: object, keys: string[], field: string): void {
  for (const k of Object.keys(v))
    if (!keys.includes(k)) throw new SandboxOptionsError(`${field}.${k}`, 'unknown field');
}

function resolveUserSpec(user: unknown): UserSpec {
  if (typeof user === 'number') {
    if (!isId(user)) throw new SandboxOptionsError('user', `expected a uid from 0 to 4294967294, got ${user}`);
    return user;
  }
  if (typeof user === 'string') {
    if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user))
      throw new SandboxOptionsError('user', `invalid user name ${JSON.stringify(user)}`);
    return user;
  }
  if (typeof user === 'object' && user !== null) {
    const u = user as { uid: unknown; gid?: unknown; groups?: unknown };
    if (!isId(u.uid)) throw new SandboxOptionsError('user.uid', 'expected a uid');
    if (u.gid !== undefined && !isId(u.gid)) throw new SandboxOptionsError('user.gid', 'expected a gid');
    if (u.groups !== undefined && (!Array.isArray(u.groups) || !u.groups.every(isId)))
      throw new SandboxOptionsError('user.groups', 'expected an array of gids');
    return user as UserSpec;
  }
  throw new SandboxOptionsError('user', 'expected a uid, a user name or { uid, gid, groups }');
}

function validSecurity(value: unknown): SecurityOptions | undefined {
  // Checked alone here; laid over the sandbox's (and checked again) by sandbox.spawn().
  if (value !== undefined) resolveSecurity(value, 'security', { ...defaultSecurity(), seccomp: null });
  return value as SecurityOptions | undefined;
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 4294967295;
}

/** Validates an absolute path inside the sandbox. */
export function resolveInsidePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || !value.startsWith('/'))
    throw new SandboxOptionsError(field, `expected an absolute path inside the sandbox, got ${JSON.stringify(value)}`);
  if (value.includes('\0')) throw new SandboxOptionsError(field, 'contains a NUL byte');
  return value;
}

/** Validates an environment map: string keys without '=' or NUL, string values without NUL. */
export function resolveEnv(env: unknown, field: string): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null || Array.isArray(env))
    throw new SandboxOptionsError(field, 'expected an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k || k.includes('=') || k.includes('\0'))
      throw new SandboxOptionsError(`${field}.${k}`, 'invalid variable name');
    if (typeof v !== 'string' || v.includes('\0'))
      throw new SandboxOptionsError(`${field}.${k}`, 'expected a string without NUL bytes');
    out[k] = v;
  }
  return out;
}

import type { Readable } from 'node:stream';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { resolveEnv, resolveInsidePath } from '../sandbox/options.js';
import { resolveSpawnLimits, type ResolvedSpawnLimits, type SpawnLimits } from '../limits/limits.js';
import { defaultSecurity, resolveSecurity, type SecurityOptions } from '../security/security-options.js';

/** Who a program runs as inside the sandbox. */
export type UserSpec = number | string | { uid: number; gid?: number; groups?: number[] };

/** Options of `sandbox.spawn()` and `sandbox.run()`. */
export interface SpawnOptions {
  /** Extra environment variables, over the sandbox's `env` and the PATH/HOME/TERM defaults. */
  env?: Record<string, string>;
  /** Working directory inside the sandbox. @defaultValue the sandbox's `cwd` ('/') */
  cwd?: string;
  /**
   * Standard input: `'pipe'` (write to `proc.stdin`), `'ignore'` (/dev/null), or data to feed
   * and then close (a string, bytes, or a readable stream).
   * @defaultValue 'pipe' for spawn(), 'ignore' for run()
   */
  stdin?: 'pipe' | 'ignore' | string | Uint8Array | Readable;
  /** `'pipe'` (readable on `proc.stdout` and collected) or `'ignore'`. @defaultValue 'pipe' */
  stdout?: 'pipe' | 'ignore';
  /** `'pipe'` or `'ignore'`. @defaultValue 'pipe' */
  stderr?: 'pipe' | 'ignore';
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
}

/** Validated spawn options. */
export interface ResolvedSpawnOptions {
  argv: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  stdin: NonNullable<SpawnOptions['stdin']>;
  stdout: 'pipe' | 'ignore';
  stderr: 'pipe' | 'ignore';
  user: UserSpec;
  signal: AbortSignal | undefined;
  maxBuffer: number;
  limits: ResolvedSpawnLimits;
  /** The spawn's own security fields (validated), laid over the sandbox's when it starts. */
  security: SecurityOptions | undefined;
}

const KNOWN_SPAWN_KEYS = new Set(['env', 'cwd', 'stdin', 'stdout', 'stderr', 'user', 'signal', 'maxBuffer', 'limits', 'security']);
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/** Checks a command and its options; throws `SandboxOptionsError` naming the bad field. */
export function resolveSpawnOptions(command: unknown, options: SpawnOptions = {}, defaultStdin: 'pipe' | 'ignore' = 'pipe'): ResolvedSpawnOptions {
  const argv = resolveCommand(command);
  if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
  for (const key of Object.keys(options)) if (!KNOWN_SPAWN_KEYS.has(key)) throw new SandboxOptionsError(key, 'unknown spawn option');
  const stdin = options.stdin ?? defaultStdin;
  if (!isStdinValue(stdin)) throw new SandboxOptionsError('stdin', "expected 'pipe', 'ignore', a string, bytes or a readable stream");
  for (const name of ['stdout', 'stderr'] as const) {
    const v = options[name];
    if (v !== undefined && v !== 'pipe' && v !== 'ignore') throw new SandboxOptionsError(name, "expected 'pipe' or 'ignore'");
  }
  const maxBuffer = options.maxBuffer ?? DEFAULT_MAX_BUFFER;
  if (!Number.isInteger(maxBuffer) || maxBuffer < 0) throw new SandboxOptionsError('maxBuffer', 'expected a non-negative integer number of bytes');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new SandboxOptionsError('signal', 'expected an AbortSignal');
  return {
    argv,
    env: resolveEnv(options.env, 'env'),
    cwd: options.cwd === undefined ? undefined : resolveInsidePath(options.cwd, 'cwd'),
    stdin,
    stdout: options.stdout ?? 'pipe',
    stderr: options.stderr ?? 'pipe',
    user: resolveUserSpec(options.user ?? 0),
    signal: options.signal,
    maxBuffer,
    limits: resolveSpawnLimits(options.limits, 'limits'),
    security: validSecurity(options.security),
  };
}

function resolveCommand(command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0) throw new SandboxOptionsError('command', 'expected a non-empty array of strings, e.g. ["sh", "-c", "echo hi"]');
  command.forEach((arg, i) => {
    if (typeof arg !== 'string') throw new SandboxOptionsError(`command[${i}]`, `expected a string, got ${typeof arg}`);
    if (arg.includes('\0')) throw new SandboxOptionsError(`command[${i}]`, 'contains a NUL byte');
  });
  if (command[0] === '') throw new SandboxOptionsError('command[0]', 'the program name is empty');
  return [...command] as string[];
}

function isStdinValue(v: unknown): v is ResolvedSpawnOptions['stdin'] {
  if (v === 'pipe' || v === 'ignore' || typeof v === 'string' || v instanceof Uint8Array) return true;
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function';
}

function resolveUserSpec(user: unknown): UserSpec {
  if (typeof user === 'number') {
    if (!isId(user)) throw new SandboxOptionsError('user', `expected a uid from 0 to 4294967294, got ${user}`);
    return user;
  }
  if (typeof user === 'string') {
    if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) throw new SandboxOptionsError('user', `invalid user name ${JSON.stringify(user)}`);
    return user;
  }
  if (typeof user === 'object' && user !== null) {
    const u = user as { uid: unknown; gid?: unknown; groups?: unknown };
    if (!isId(u.uid)) throw new SandboxOptionsError('user.uid', 'expected a uid');
    if (u.gid !== undefined && !isId(u.gid)) throw new SandboxOptionsError('user.gid', 'expected a gid');
    if (u.groups !== undefined && (!Array.isArray(u.groups) || !u.groups.every(isId))) throw new SandboxOptionsError('user.groups', 'expected an array of gids');
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

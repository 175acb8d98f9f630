import { SandboxOptionsError } from '../errors/sandbox-error.js';
import type { UserSpec } from '../process/spawn-options.js';
import type { CallPolicy } from './files-session.js';

/** Options every `sandbox.files` call takes. */
export interface FilesCallOptions {
  /**
   * The sandbox user the call acts as: a uid, a name from the image's /etc/passwd, or
   * `{ uid, gid, groups }`. Its permissions inside the sandbox are the call's. @defaultValue 0 (the sandbox's root, as for programs)
   */
  user?: UserSpec;
  /** Follow symlinks (resolved inside the sandbox). Off, a symlink anywhere on the path fails with `ELOOP`. @defaultValue false */
  followSymlinks?: boolean;
  /**
   * Let resolution cross mount points (`/tmp`, binds). Without `followSymlinks` only mounts the
   * path names literally can be entered, so this defaults to true there; with it, to false, so
   * a symlink never leads into a bind. @defaultValue `!followSymlinks`
   */
  crossMounts?: boolean;
  /** Aborts the call: it rejects with `SandboxAbortedError` and cleans up. */
  signal?: AbortSignal;
}

/** Longest path or symlink target the helper takes (PATH_MAX less its NUL). */
const MAX_PATH_BYTES = 4095;

export function checkPath(path: unknown, field = 'path'): string {
  if (
    typeof path !== 'string' ||
    !path.startsWith('/') ||
    path.includes('\0') ||
    Buffer.byteLength(path) > MAX_PATH_BYTES
  ) {
    throw new SandboxOptionsError(
      field,
      `expected an absolute path inside the sandbox (no NUL, at most ${MAX_PATH_BYTES} bytes), got ${describe(path)}`
    );
  }
  return path;
}

/** The options object of a call, refusing a non-object and keys the call does not know. */
export function checkOptions<T extends object>(options: T | undefined, known: readonly string[]): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new SandboxOptionsError('options', `expected an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (!known.includes(key)) throw new SandboxOptionsError(key, `unknown option (known: ${known.join(', ')})`);
  return options;
}

export function checkMode(mode: unknown, field: string, dflt: number): number {
  if (mode === undefined) return dflt;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new SandboxOptionsError(field, `expected a permission mode from 0 to 0o7777, got ${describe(mode)}`);
  return mode;
}

/** A byte or entry count: a non-negative safe integer. */
export function checkCount(n: unknown, field: string, dflt: number): number {
  if (n === undefined) return dflt;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new SandboxOptionsError(field, `expected a non-negative integer, got ${describe(n)}`);
  return n;
}

export function checkBool(b: unknown, field: string, dflt: boolean): boolean {
  if (b === undefined) return dflt;
  if (typeof b !== 'boolean') throw new SandboxOptionsError(field, `expected true or false, got ${describe(b)}`);
  return b;
}

export function checkData(data: unknown): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new SandboxOptionsError('data', `expected a string or a Uint8Array, got ${describe(data)}`);
}

export function checkSymlinkTarget(target: unknown): string {
  if (
    typeof target !== 'string' ||
    target === '' ||
    target.includes('\0') ||
    Buffer.byteLength(target) > MAX_PATH_BYTES
  ) {
    throw new SandboxOptionsError(
      'target',
      `expected a non-empty symlink target without NUL, at most ${MAX_PATH_BYTES} bytes, got ${describe(target)}`
    );
  }
  return target;
}

function checkUser(user: unknown): UserSpec {
  const isId = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xfffffffe;
  if (user === undefined) return 0;
  if (isId(user)) return user as number;
  if (typeof user === 'string' && /^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) return user;
  if (typeof user === 'object' && user !== null) {
    const u = user as { uid?: unknown; gid?: unknown; groups?: unknown };
    if (!isId(u.uid))
      throw new SandboxOptionsError('user.uid', `expected a uid from 0 to 4294967294, got ${describe(u.uid)}`);
    if (u.gid !== undefined && !isId(u.gid))
      throw new SandboxOptionsError('user.gid', `expected a gid, got ${describe(u.gid)}`);
    if (u.groups !== undefined && (!Array.isArray(u.groups) || u.groups.length > 256 || !u.groups.every(isId)))
      throw new SandboxOptionsError('user.groups', 'expected at most 256 gids');
    return { uid: u.uid as number, gid: u.gid as number | undefined, groups: u.groups as number[] | undefined };
  }
  throw new SandboxOptionsError('user', `expected a uid, a user name or { uid, gid, groups }, got ${describe(user)}`);
}

/** The policy of a call from its validated options. */
export function policyOf(o: FilesCallOptions): CallPolicy {
  const followSymlinks = checkBool(o.followSymlinks, 'followSymlinks', false);
  const crossMounts = checkBool(o.crossMounts, 'crossMounts', !followSymlinks);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new SandboxOptionsError('signal', `expected an AbortSignal, got ${describe(o.signal)}`);
  return { user: checkUser(o.user), followSymlinks, crossMounts, signal: o.signal };
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

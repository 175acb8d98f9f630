import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxError } from '../errors/sandbox-error.js';
import { isSessionAlive, processStartTime } from './session.js';

const STALE_UNOWNED_MS = 10_000;

export interface LockOptions {
  /** Make `dir` when it is missing (else `fn` is skipped). */
  create?: boolean;
  /** How long to wait for a live owner. */
  timeoutMs?: number;
  /** The error to throw when waiting timed out. */
  onTimeout?: () => Error;
}

/**
 * Runs `fn` holding an exclusive lock on `dir` across every Node process of the host: the lock
 * is the directory `dir/lock` (mkdir is atomic), holding the owner's pid and start time. A lock
 * whose owner died (a crash) is taken over. `fn` should be short: file work and a few commands.
 * When `dir` does not exist, it is made with `create`, else `fn` is not run and the result is
 * undefined.
 */
export async function withLock<T>(
  dir: string,
  fn: () => T | Promise<T>,
  { create = false, timeoutMs = 10_000, onTimeout }: LockOptions = {}
): Promise<T | undefined> {
  const lock = join(dir, 'lock');
  const owner = `${process.pid}-${processStartTime(process.pid) ?? 0}`;
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner'), owner);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !create) return undefined; // removed by its last user
      if (code === 'ENOENT') {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        continue;
      }
      if (code !== 'EEXIST') throw err;
    }
    if (isStale(lock)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw onTimeout?.() ?? new SandboxError('ERR_SANDBOX_SETUP', `timed out waiting for the lock ${lock}`);
    await sleep(wait);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function isStale(lock: string): boolean {
  try {
    return !isSessionAlive(readFileSync(join(lock, 'owner'), 'utf8'));
  } catch {
    // No owner written yet: its maker is between mkdir and write, or died there.
    try {
      return Date.now() - statSync(lock).mtimeMs > STALE_UNOWNED_MS;
    } catch {
      return false;
    }
  }
}

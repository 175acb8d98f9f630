import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { removeTreeSync } from './remove-tree.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { defaultStateDir } from './state-dir.js';

const debug = debuglog('sandkit');

/** Start time of a process in clock ticks since boot (field 22 of /proc/pid/stat), or null. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

interface Owner {
  pid: number;
  startTime: string | null;
}

/**
 * This process's directory under the state root (`sessions/<pid>-<random>`), holding every
 * sandbox it makes. Directories of sessions whose owner is gone (a crash, kill -9) are swept
 * when a new session starts.
 */
export class Session {
  readonly dir: string;
  /** `<pid>-<start ticks>-<random>`: names this session's directory and its cgroups. */
  readonly id: string;

  private constructor(readonly root: string) {
    this.id = `${process.pid}-${processStartTime(process.pid) ?? 0}-${randomBytes(3).toString('hex')}`;
    this.dir = join(root, 'sessions', this.id);
    // Writable layers hold whatever sandboxed programs wrote, owned by the ids they ran as (as
    // root: host root). Nobody else on the host may reach them, so sessions/ is private.
    const sessions = join(root, 'sessions');
    mkdirSync(sessions, { recursive: true, mode: 0o700 });
    chmodSync(sessions, 0o700);
    mkdirSync(this.dir, { mode: 0o700 });
    const owner: Owner = { pid: process.pid, startTime: processStartTime(process.pid) };
    writeFileSync(join(this.dir, 'owner.json'), JSON.stringify(owner));
  }

  /** Creates a session under `root` after sweeping dead ones there. */
  static open(root = defaultStateDir()): Session {
    sweepStaleSessions(root);
    return new Session(root);
  }

  /** Removes this session's directory (synchronous: also used at process exit). */
  removeSync(): void {
    removeTreeSync(this.dir);
  }
}

/** Removes session directories whose owning process no longer exists. Returns how many. */
export function sweepStaleSessions(root: string): number {
  const sessions = join(root, 'sessions');
  let names: string[];
  try {
    names = readdirSync(sessions);
  } catch {
    return 0;
  }
  let swept = 0;
  for (const name of names) {
    const dir = join(sessions, name);
    if (ownerAlive(dir)) continue;
    debug('sweeping stale session %s', dir);
    try {
      removeTreeSync(dir);
      swept++;
    } catch (err) {
      debug('cannot sweep %s: %o', dir, err);
    }
  }
  return swept;
}

/**
 * True while the process that opened session `id` lives: its pid exists and started at the
 * same clock tick (so a reused pid does not count). Works for any state directory.
 */
export function isSessionAlive(id: string): boolean {
  const [pid, start] = id.split('-');
  return processStartTime(Number(pid)) === start;
}

function ownerAlive(dir: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as Owner;
    const start = processStartTime(owner.pid);
    return start !== null && start === owner.startTime;
  } catch {
    // No readable owner: a leftover, unless another process is creating it right now.
    return isYoung(dir);
  }
}

function isYoung(dir: string): boolean {
  try {
    return Date.now() - statSync(dir).mtimeMs < 60_000;
  } catch {
    return false;
  }
}

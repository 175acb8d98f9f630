import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processStartTime } from '../../src/platform/session.js';

/** A process as the host sees it. */
export interface HostProcess {
  pid: number;
  ppid: number;
  /** One-letter state from /proc/pid/stat (`Z` for a zombie). */
  state: string;
  /** Start time in clock ticks since boot: with `pid`, identifies a process across pid reuse. */
  startTime: string;
  cmdline: string[];
}

/** One process from /proc, or undefined if it is gone. */
export function hostProcess(pid: number): HostProcess | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmdline.at(-1) === '') cmdline.pop();
    return { pid, state: fields[0]!, ppid: Number(fields[1]), startTime: fields[19]!, cmdline };
  } catch {
    return undefined;
  }
}

/** Every process on the host (those this user may see). */
export function hostProcesses(): HostProcess[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map((n) => hostProcess(Number(n)))
    .filter((p) => p !== undefined);
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const p = hostProcess(pid);
  return p !== undefined && p.state !== 'Z' && p.state !== 'X';
}

/** Live processes whose command line is exactly `argv`. */
export function processesRunning(argv: string[]): HostProcess[] {
  return hostProcesses().filter(
    (p) => p.state !== 'Z' && p.cmdline.length === argv.length && p.cmdline.every((a, i) => a === argv[i])
  );
}

/** The pid namespace of a process (`pid:[4026531836]`), or undefined when it cannot be read. */
export function pidNamespaceOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/**
 * Live processes in a pid namespace other than ours whose mounts mention `stateDir`: the
 * processes of sandboxes whose writable layers live there, and of no one else's.
 */
export function sandboxProcessesUsing(stateDir: string): HostProcess[] {
  const ours = pidNamespaceOf('self');
  return hostProcesses().filter((p) => {
    const ns = pidNamespaceOf(p.pid);
    if (ns === undefined || ns === ours || p.state === 'Z') return false;
    try {
      return readFileSync(`/proc/${p.pid}/mountinfo`, 'utf8').includes(stateDir);
    } catch {
      return false;
    }
  });
}

/** Lines of the host's mountinfo (this process's mount namespace) that mention `text`. */
export function mountsMentioning(text: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(text));
}

/**
 * Sandbox directories (`sb-*`) under a state root, including state roots nested in it:
 * `<root>/sessions/<session>/sb-*` at any depth, without descending into the sandboxes.
 */
export function sandboxDirsUnder(root: string, depth = 4): string[] {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of entries) {
    const path = join(root, name);
    if (name.startsWith('sb-')) found.push(path);
    else if (depth > 0 && !['host-layer', 'upper', 'work', 'root'].includes(name))
      found.push(...sandboxDirsUnder(path, depth - 1));
  }
  return found.filter((p) => lstatSync(p, { throwIfNoEntry: false })?.isDirectory());
}

/** The state directory every sandbox of this test run uses (set by the integration setup). */
export function stateRoot(): string {
  const dir = process.env.SANDKIT_STATE_DIR;
  if (!dir)
    throw new Error(
      'SANDKIT_STATE_DIR is not set: run through the integration project (test/helpers/integration-setup.ts)'
    );
  return dir;
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns its last answer. */
/**
 * The session directory name of live process `pid` under `stateDir`: `<pid>-<start ticks>-…`,
 * so a directory left by an earlier process with the same (reused) pid does not match.
 */
export function sessionOf(stateDir: string, pid: number): string {
  const prefix = `${pid}-${processStartTime(pid)}-`;
  const found = readdirSync(join(stateDir, 'sessions')).find((n) => n.startsWith(prefix));
  if (!found) throw new Error(`no session of pid ${pid} under ${stateDir}`);
  return found;
}

export async function waitUntil(check: () => boolean, timeoutMs = 2000, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
}

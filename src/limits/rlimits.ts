import { readFileSync } from 'node:fs';
import type { RlimitName } from '../helper/protocol.js';
import type { ResolvedSandboxLimits, ResolvedSpawnLimits } from './limits.js';

let helperOpenFiles: number | undefined;

/** This process's soft RLIMIT_NOFILE (the helper inherits it), from /proc/self/limits. */
function ownOpenFilesLimit(): number {
  if (helperOpenFiles !== undefined) return helperOpenFiles;
  let limit = 1024;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8').slice(0, 8192));
    if (m) limit = Number(m[1]);
  } catch {
    /* no /proc: assume the usual soft limit */
  }
  return (helperOpenFiles = limit);
}

/**
 * RLIMIT_NOFILE of a command without `openFiles`: at most 4096, and at most half the helper's.
 * The kernel refuses to pass more fds over unix sockets (SCM_RIGHTS) once its host user has
 * more in flight than the *sender's* RLIMIT_NOFILE, counted for all processes of that user
 * together. A command with the helper's limit could fill that count and leave the init's and
 * the supervisor's own fd passing failing (ETOOMANYREFS: no sandbox starts, no spawn runs); with
 * a lower limit its sends stop first, and the helper's always have room.
 */
export function defaultOpenFiles(helperLimit = ownOpenFilesLimit()): number {
  return Math.max(64, Math.min(4096, Math.floor(helperLimit / 2)));
}

/**
 * Per-process resource limits the helper sets before exec. Core dumps are always off. The CPU
 * rlimit is a backstop one second past the limit (the cgroup poller fires first); with the
 * `'rlimit'` fallback and no cgroups it and RLIMIT_AS stand in for the cgroup limits.
 */
export function rlimitsFor(
  spawn: ResolvedSpawnLimits,
  sandbox: ResolvedSandboxLimits,
  useFallback: boolean
): Array<[RlimitName, number, number]> {
  const out: Array<[RlimitName, number, number]> = [['core', 0, 0]];
  if (spawn.fileSize !== undefined) out.push(['fsize', spawn.fileSize, spawn.fileSize]);
  const openFiles = spawn.openFiles ?? defaultOpenFiles();
  out.push(['nofile', openFiles, openFiles]);
  if (spawn.stack !== undefined) out.push(['stack', spawn.stack, spawn.stack]);
  if (spawn.cpuTimeMs !== undefined) {
    const seconds = Math.ceil(spawn.cpuTimeMs / 1000) + 1;
    out.push(['cpu', seconds, seconds + 1]);
  }
  const memory = spawn.memory ?? sandbox.memory;
  if (spawn.addressSpace !== undefined) out.push(['as', spawn.addressSpace, spawn.addressSpace]);
  else if (useFallback && memory !== undefined) out.push(['as', memory, memory]);
  return out;
}

import type { RlimitName } from '../helper/messages.js';
import type { ResolvedSandboxLimits, ResolvedSpawnLimits } from './limits.js';

/**
 * Per-process resource limits the helper sets before exec. Core dumps are always off. The CPU
 * rlimit is a backstop one second past the limit (the cgroup poller fires first); with the
 * `'rlimit'` fallback and no cgroups it and RLIMIT_AS stand in for the cgroup limits.
 */
export function rlimitsFor(spawn: ResolvedSpawnLimits, sandbox: ResolvedSandboxLimits, useFallback: boolean): Array<[RlimitName, number, number]> {
  const out: Array<[RlimitName, number, number]> = [['core', 0, 0]];
  if (spawn.fileSize !== undefined) out.push(['fsize', spawn.fileSize, spawn.fileSize]);
  if (spawn.openFiles !== undefined) out.push(['nofile', spawn.openFiles, spawn.openFiles]);
  if (spawn.stack !== undefined) out.push(['stack', spawn.stack, spawn.stack]);
  if (spawn.cpuTimeMs !== undefined) {
    const seconds = Math.ceil(spawn.cpuTimeMs / 1000) + 1;
    out.push(['cpu', seconds, seconds + 1]);
  }
  const memory = spawn.memory ?? sandbox.memory;
  if (useFallback && memory !== undefined) out.push(['as', memory, memory]);
  return out;
}

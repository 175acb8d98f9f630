import type { Cgroup } from './cgroup.js';
import { parseFlatKeyed, readCgroupFile, writeCgroupFile } from './cgroup-fs.js';

/** Caps the number of tasks (processes and threads) in the group. */
export function setPidsLimit(cg: Cgroup, max: number): void {
  writeCgroupFile(cg.file('pids', 'pids.max')!, max);
}

/** How many times a fork failed because the group was at its limit. */
export function readPidsLimitHits(cg: Cgroup): number | undefined {
  if (!cg.plan.controllers.pids) return undefined;
  return parseFlatKeyed(readCgroupFile(cg.file('pids', 'pids.events')!)).max ?? 0;
}

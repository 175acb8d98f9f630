import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Cgroup } from './cgroup.js';
import { readCgroupFile, writeCgroupFile } from './cgroup-fs.js';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { formatCpuList, parseCpuList } from '../limits/cpu-list.js';

let allowed: number[] | undefined;

/** The CPUs this process may run on (its affinity, within its cpuset), read once. */
export function hostCpus(status = '/proc/self/status'): number[] {
  if (allowed) return allowed;
  const line = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(status, 'utf8'));
  allowed = line ? parseCpuList(line[1], 'Cpus_allowed_list') : [0];
  return allowed;
}

/** @throws {SandboxOptionsError} naming `field` for a CPU this process may not use. */
export function checkCpuset(cpus: readonly number[], field: string, host = hostCpus()): void {
  const outside = cpus.filter((c) => !host.includes(c));
  if (outside.length)
    throw new SandboxOptionsError(
      field,
      `CPU ${formatCpuList(outside)} is not one this process may use (allowed: ${formatCpuList(host)})`
    );
}

let next = 0;

/**
 * ceil(`cpus`) of the host's CPUs for a sandbox with a quota and no cpuset: each sandbox takes
 * the next ones round the host's list, so sandboxes started together spread over the CPUs.
 */
export function pickCpus(cpus: number, host = hostCpus()): number[] {
  const n = Math.min(host.length, Math.max(1, Math.ceil(cpus - 1e-9)));
  const start = next % host.length;
  next = (start + n) % host.length;
  return Array.from({ length: n }, (_, i) => host[(start + i) % host.length]!).sort((a, b) => a - b);
}

/**
 * Confines a cgroup to `cpus` with the cpuset controller. A v1 cpuset cgroup starts with no
 * CPUs and no memory nodes, so it takes its parent's memory nodes (and CPUs, when `cpus` is
 * not given) before any process can join it.
 */
export function setCpuset(cg: Cgroup, cpus: readonly number[] | undefined): void {
  if (cg.plan.cpuset === 'v2' && cg.v2Path) {
    if (cpus) writeCgroupFile(join(cg.v2Path, 'cpuset.cpus'), formatCpuList(cpus));
    return;
  }
  const dir = cg.plan.cpuset === 'v1' ? cg.v1Paths.cpuset : undefined;
  if (!dir || !cg.madeInV1('cpuset')) return;
  const parent = dirname(dir);
  const mems = readCgroupFile(join(parent, 'cpuset.mems'))?.trim();
  if (mems) writeCgroupFile(join(dir, 'cpuset.mems'), mems);
  const list = cpus ? formatCpuList(cpus) : readCgroupFile(join(parent, 'cpuset.cpus'))?.trim();
  if (list) writeCgroupFile(join(dir, 'cpuset.cpus'), list);
}

import type { Cgroup } from './cgroup.js';
import { parseFlatKeyed, parseNumber, readCgroupFile, writeCgroupFile } from './cgroup-fs.js';

const PERIOD_US = 100_000;

/** Limits the group to `cpus` CPUs' worth of time (1.5 = one and a half cores). */
export function setCpuQuota(cg: Cgroup, cpus: number): void {
  const quota = Math.max(1000, Math.round(cpus * PERIOD_US));
  if (cg.plan.controllers.cpu === 'v2') {
    writeCgroupFile(cg.file('cpu', 'cpu.max')!, `${quota} ${PERIOD_US}`);
    return;
  }
  writeCgroupFile(cg.file('cpu', 'cpu.cfs_period_us')!, PERIOD_US);
  writeCgroupFile(cg.file('cpu', 'cpu.cfs_quota_us')!, quota);
}

/** CPU time used by every process that ever ran in the group, in microseconds. */
export interface CpuStats {
  userUs: number;
  systemUs: number;
  totalUs: number;
  /** Periods in which the group hit its quota (v2 only). */
  throttledPeriods?: number;
}

/** Reads CPU usage: v2 cpu.stat works without the cpu controller; v1 needs cpuacct. */
export function readCpuStats(cg: Cgroup): CpuStats | undefined {
  if (cg.v2Path) {
    const stat = parseFlatKeyed(readCgroupFile(cg.file('core', 'cpu.stat')!));
    if (stat.usage_usec === undefined) return undefined;
    return {
      userUs: stat.user_usec ?? 0,
      systemUs: stat.system_usec ?? 0,
      totalUs: stat.usage_usec,
      throttledPeriods: stat.nr_throttled,
    };
  }
  const usage = cg.v1Paths.cpuacct ? parseNumber(readCgroupFile(`${cg.v1Paths.cpuacct}/cpuacct.usage`)) : undefined;
  if (usage === undefined) return undefined;
  const user = parseNumber(readCgroupFile(`${cg.v1Paths.cpuacct}/cpuacct.usage_user`)) ?? 0;
  const sys = parseNumber(readCgroupFile(`${cg.v1Paths.cpuacct}/cpuacct.usage_sys`)) ?? 0;
  return { userUs: user / 1000, systemUs: sys / 1000, totalUs: usage / 1000 };
}

import { existsSync } from 'node:fs';
import type { Cgroup } from './cgroup.js';
import { parseFlatKeyed, parseNumber, readCgroupFile, writeCgroupFile } from './cgroup-fs.js';

/**
 * Caps memory at `bytes` with swap off, and makes an OOM end the whole group: on v2 the kernel
 * kills the group (memory.oom.group); v1 has no such switch and kills one process, so there
 * the OOM killer is turned off (tasks at the limit wait) and the spawn's reaper, which sees
 * the group under OOM, kills its whole tree (native/src/memwatch.c).
 */
export function setMemoryLimit(cg: Cgroup, bytes: number): void {
  if (cg.plan.controllers.memory === 'v2') {
    writeCgroupFile(cg.file('memory', 'memory.max')!, bytes);
    const swap = cg.file('memory', 'memory.swap.max')!;
    if (existsSync(swap)) writeCgroupFile(swap, 0);
    writeCgroupFile(cg.file('memory', 'memory.oom.group')!, 1);
    return;
  }
  writeCgroupFile(cg.file('memory', 'memory.limit_in_bytes')!, bytes);
  const memsw = cg.file('memory', 'memory.memsw.limit_in_bytes')!;
  if (existsSync(memsw)) writeCgroupFile(memsw, bytes); // memory+swap = memory: no swap
  writeCgroupFile(cg.file('memory', 'memory.oom_control')!, 1);
}

/** Peak usage and OOM kills of a cgroup. */
export interface MemoryStats {
  peakBytes: number | undefined;
  oomKills: number;
}

export function readMemoryStats(cg: Cgroup): MemoryStats | undefined {
  const placement = cg.plan.controllers.memory;
  if (placement === 'v2') {
    const events = parseFlatKeyed(readCgroupFile(cg.file('memory', 'memory.events')!));
    return {
      peakBytes: parseNumber(readCgroupFile(cg.file('memory', 'memory.peak')!)),
      oomKills: events.oom_kill ?? 0,
    };
  }
  if (placement === 'v1') {
    const control = parseFlatKeyed(readCgroupFile(cg.file('memory', 'memory.oom_control')!));
    return {
      peakBytes: parseNumber(readCgroupFile(cg.file('memory', 'memory.max_usage_in_bytes')!)),
      oomKills: control.oom_kill ?? 0,
    };
  }
  return undefined;
}

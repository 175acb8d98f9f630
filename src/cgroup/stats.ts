import type { Cgroup } from './cgroup.js';
import { readCpuStats } from './cpu.js';
import { parseNumber, readCgroupFile } from './cgroup-fs.js';

/**
 * What a sandbox or one of its programs uses right now, read from its cgroup. A figure the
 * host cannot give (no such controller, rootless without a delegated cgroup, a kernel too old
 * for memory.peak) is `null`, never a made-up zero.
 */
export interface ResourceStats {
  /** Memory charged to the group, in bytes (page cache of files it read included). */
  memory: {
    /** Now: memory.current (v2) or memory.usage_in_bytes (v1). */
    current: number | null;
    /** Highest so far: memory.peak (v2, Linux 5.19+) or memory.max_usage_in_bytes (v1). */
    peak: number | null;
  };
  /** CPU time used by every process that ran in the group, in milliseconds (as `SpawnResult.cpuTimeMs`). */
  cpu: {
    /** In user mode. */
    user: number | null;
    /** In the kernel on the group's behalf. */
    system: number | null;
    /** `user + system` as the kernel counts it. */
    total: number | null;
  };
  /** Tasks (processes and threads) in the group now: pids.current. */
  pids: number | null;
  /** Bytes read from and written to block devices (v2 io.stat; null without the io controller). */
  io: {
    /** Read from block devices. */
    readBytes: number | null;
    /** Written to block devices. */
    writeBytes: number | null;
  };
  /** When the figures were read (ms since the epoch). */
  at: number;
}

/** Every figure null: what a group that does not (or no longer) exist reports. */
export function emptyStats(): ResourceStats {
  return {
    memory: { current: null, peak: null },
    cpu: { user: null, system: null, total: null },
    pids: null,
    io: { readBytes: null, writeBytes: null },
    at: Date.now(),
  };
}

/** Reads a group's stats; `undefined` (no cgroup) gives every figure null. Never throws for a missing file. */
export function readResourceStats(cg: Cgroup | undefined): ResourceStats {
  const stats = emptyStats();
  if (!cg) return stats;
  const quiet = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      return undefined; // a group removed under us (the spawn ended): the figure is absent
    }
  };
  const memory = cg.plan.controllers.memory;
  if (memory) {
    const [cur, peak] =
      memory === 'v2' ? ['memory.current', 'memory.peak'] : ['memory.usage_in_bytes', 'memory.max_usage_in_bytes'];
    stats.memory.current = finite(quiet(() => parseNumber(readCgroupFile(cg.file('memory', cur!)!))));
    stats.memory.peak = finite(quiet(() => parseNumber(readCgroupFile(cg.file('memory', peak!)!))));
  }
  const cpu = quiet(() => readCpuStats(cg));
  if (cpu) stats.cpu = { user: cpu.userUs / 1000, system: cpu.systemUs / 1000, total: cpu.totalUs / 1000 };
  const pidsFile = cg.plan.controllers.pids ? cg.file('pids', 'pids.current') : undefined;
  if (pidsFile) stats.pids = finite(quiet(() => parseNumber(readCgroupFile(pidsFile))));
  if (cg.plan.controllers.io === 'v2') {
    const io = quiet(() => readCgroupFile(cg.file('io', 'io.stat')!));
    if (io !== undefined) stats.io = sumIoStat(io);
  }
  return stats;
}

/** Sums `rbytes=` and `wbytes=` over the devices of an io.stat. */
export function sumIoStat(text: string): ResourceStats['io'] {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    for (const field of line.trim().split(/\s+/).slice(1)) {
      const [key, value] = field.split('=');
      const n = Number(value);
      if (!Number.isFinite(n)) continue;
      if (key === 'rbytes') readBytes += n;
      else if (key === 'wbytes') writeBytes += n;
    }
  }
  return { readBytes, writeBytes };
}

function finite(n: number | undefined): number | null {
  return n !== undefined && Number.isFinite(n) ? n : null;
}

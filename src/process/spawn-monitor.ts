import { availableParallelism } from 'node:os';
import type { Cgroup } from '../cgroup/cgroup.js';
import { readCpuStats } from '../cgroup/cpu.js';
import { readMemoryStats } from '../cgroup/memory.js';
import { readPidsLimitHits } from '../cgroup/pids.js';
import type { ResolvedSpawnLimits } from '../limits/limits.js';
import { setLongTimeout } from '../limits/long-timeout.js';
import type { ExitEvent } from '../helper/protocol.js';
import { ARCHES, AUDIT_ARCH_I386 } from '../security/seccomp-bpf.js';
import type { CpuTime, LimitName, SeccompViolation } from './spawn-result.js';

/** What the monitor adds to a result once the program ended. */
export interface Measurements {
  limitExceeded: LimitName | null;
  cpuTimeMs: CpuTime;
  memoryPeakBytes: number | null;
  memoryUsedBytes: number | null;
  oomKilled: boolean;
  pidsLimitHit: boolean;
}

const MIN_POLL_MS = 2;

/**
 * Watches one running spawn: enforces the wall-time, CPU-time and output limits by killing the
 * whole tree, and turns cgroup counters into measurements and a verdict when it ends.
 *
 * CPU time counts from zero in a fresh cgroup that only the command was ever in (the reaper
 * clones it there and stays out), so the limit and the result share the program's own zero.
 * It is polled adaptively: the tree cannot use more than `ncpu` ms of CPU per ms of wall
 * time, so the next check is due when the remaining budget could first run out. The overshoot
 * is bounded by about `ncpu × 2 ms` plus the kill latency.
 */
export class SpawnMonitor {
  private limit: LimitName | null = null;
  private timers: NodeJS.Timeout[] = [];
  private outputBytes = 0;
  private done = false;
  private readonly ncpu = availableParallelism();
  /** CPU the command used before execve (µs): the zero of both the limit and the result. */
  private preExecUs = 0;

  constructor(
    private readonly limits: ResolvedSpawnLimits,
    private readonly cgroup: Cgroup | undefined,
    private readonly killTree: (limit: LimitName) => void
  ) {}

  /** The program is running: start the clocks. `preExecUs`: its CPU time before execve. */
  started(preExecUs = 0): void {
    this.preExecUs = preExecUs;
    if (this.limits.wallTimeMs !== undefined) {
      this.timers.push(setLongTimeout(() => this.exceed('wallTime'), this.limits.wallTimeMs));
    }
    if (this.limits.cpuTimeMs !== undefined && this.cgroup) this.scheduleCpuCheck(0);
  }

  /** Counts output bytes (stdout and stderr together) against the output limit; `streamOver`: one stream passed its own. */
  output(bytes: number, streamOver = false): void {
    this.outputBytes += bytes;
    if (streamOver || (this.limits.output !== undefined && this.outputBytes > this.limits.output))
      this.exceed('output');
  }

  /** The program ended: stop the clocks and measure. */
  finish(ev: ExitEvent): Measurements {
    this.stop();
    const cpu = this.cgroup ? readCpuStats(this.cgroup) : undefined;
    const mem = this.cgroup ? readMemoryStats(this.cgroup) : undefined;
    const pidsHits = this.cgroup ? readPidsLimitHits(this.cgroup) : undefined;
    // v1: the reaper ends the tree itself when the group is under OOM (its killer is off).
    const oomKilled = (mem?.oomKills ?? 0) > 0 || ev.oomKilled === true;
    const cpuTimeMs = cpu
      ? this.fromExec(cpu.userUs, cpu.systemUs)
      : this.fromExec(ev.rusage.userUs, ev.rusage.systemUs);
    let limit = this.limit;
    if (!limit && ev.outputFileLimit) limit = 'output';
    if (!limit && oomKilled) limit = 'memory';
    if (!limit && ev.signal === 'SIGXFSZ') limit = 'fileSize';
    if (!limit && ev.signal === 'SIGXCPU') limit = 'cpuTime';
    if (
      !limit &&
      this.limits.cpuTimeMs !== undefined &&
      cpuTimeMs.total > this.limits.cpuTimeMs &&
      ev.signal === 'SIGKILL'
    )
      limit = 'cpuTime';
    const peak = mem?.peakBytes ?? null;
    // Samples can only under-read a peak; the cgroup's own peak bounds them from above.
    const used = ev.memoryUsedBytes ?? null;
    return {
      limitExceeded: limit,
      cpuTimeMs,
      memoryPeakBytes: peak,
      memoryUsedBytes: used !== null && peak !== null ? Math.min(used, peak) : used,
      oomKilled,
      pidsLimitHit: (pidsHits ?? 0) > 0,
    };
  }

  /** Stops every timer (also when the spawn failed). */
  stop(): void {
    this.done = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  private scheduleCpuCheck(delayMs: number): void {
    const t = setTimeout(() => {
      if (this.done) return;
      const used = ((readCpuStats(this.cgroup!)?.totalUs ?? 0) - this.preExecUs) / 1000;
      const remaining = this.limits.cpuTimeMs! - used;
      if (remaining <= 0) this.exceed('cpuTime');
      else this.scheduleCpuCheck(Math.max(MIN_POLL_MS, remaining / this.ncpu));
    }, delayMs);
    this.timers.push(t);
  }

  /**
   * CPU time from execve: the pre-exec part (system time: setup syscalls) comes off the system
   * figure. total is the sum, so the three always agree (the kernel scales user and system so
   * they add up to the exact runtime; each is rounded to a microsecond on its own).
   */
  private fromExec(userUs: number, systemUs: number): CpuTime {
    const system = Math.max(0, systemUs - this.preExecUs);
    const user = Math.max(0, userUs - Math.max(0, this.preExecUs - systemUs));
    return { user: user / 1000, system: system / 1000, total: (user + system) / 1000 };
  }

  private exceed(limit: LimitName): void {
    if (this.done || this.limit) return;
    this.limit = limit;
    this.killTree(limit);
  }
}

/** Names the system call of a seccomp violation from the filter's architecture tables. */
export function violationOf(v: { nr: number; arch: number } | null | undefined): SeccompViolation | null {
  if (!v) return null;
  const arch = Object.entries(ARCHES).find(([, info]) => info.audit === v.arch >>> 0);
  const name = arch ? Object.entries(arch[1].table).find(([, nr]) => nr === v.nr)?.[0] : undefined;
  const label = arch?.[0] ?? (v.arch >>> 0 === AUDIT_ARCH_I386 ? 'i386' : `arch 0x${(v.arch >>> 0).toString(16)}`);
  return { syscall: name ?? `${label}:${v.nr}`, number: v.nr };
}

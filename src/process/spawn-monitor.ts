import { availableParallelism } from 'node:os';
import type { Cgroup } from '../cgroup/cgroup.js';
import { readCpuStats } from '../cgroup/cpu.js';
import { readMemoryStats } from '../cgroup/memory.js';
import { readPidsLimitHits } from '../cgroup/pids.js';
import type { ResolvedSpawnLimits } from '../limits/limits.js';
import { setLongTimeout } from '../limits/long-timeout.js';
import type { ExitEvent } from '../helper/messages.js';
import type { CpuTime, LimitName } from './spawn-result.js';

/** What the monitor adds to a result once the program ended. */
export interface Measurements {
  limitExceeded: LimitName | null;
  cpuTimeMs: CpuTime;
  memoryPeakBytes: number | null;
  oomKilled: boolean;
  pidsLimitHit: boolean;
}

const MIN_POLL_MS = 2;

/**
 * Watches one running spawn: enforces the wall-time, CPU-time and output limits by killing the
 * whole tree, and turns cgroup counters into measurements and a verdict when it ends.
 *
 * CPU time is polled adaptively: the tree cannot use more than `ncpu` ms of CPU per ms of wall
 * time, so the next check is due when the remaining budget could first run out. The overshoot
 * is bounded by about `ncpu × 2 ms` plus the kill latency.
 */
export class SpawnMonitor {
  private limit: LimitName | null = null;
  private timers: NodeJS.Timeout[] = [];
  private outputBytes = 0;
  private done = false;
  private readonly ncpu = availableParallelism();

  constructor(
    private readonly limits: ResolvedSpawnLimits,
    private readonly cgroup: Cgroup | undefined,
    private readonly killTree: (limit: LimitName) => void,
  ) {}

  /** The program is running: start the clocks. */
  started(): void {
    if (this.limits.wallTimeMs !== undefined) {
      this.timers.push(setLongTimeout(() => this.exceed('wallTime'), this.limits.wallTimeMs));
    }
    if (this.limits.cpuTimeMs !== undefined && this.cgroup) this.scheduleCpuCheck(0);
  }

  /** Counts output bytes (stdout and stderr together) against the output limit; `streamOver`: one stream passed its own. */
  output(bytes: number, streamOver = false): void {
    this.outputBytes += bytes;
    if (streamOver || (this.limits.output !== undefined && this.outputBytes > this.limits.output)) this.exceed('output');
  }

  /** The program ended: stop the clocks and measure. */
  finish(ev: ExitEvent): Measurements {
    this.stop();
    const cpu = this.cgroup ? readCpuStats(this.cgroup) : undefined;
    const mem = this.cgroup ? readMemoryStats(this.cgroup) : undefined;
    const pidsHits = this.cgroup ? readPidsLimitHits(this.cgroup) : undefined;
    const oomKilled = (mem?.oomKills ?? 0) > 0;
    const cpuTimeMs = cpu
      // total is the sum, so the three always agree (the kernel scales user and system so they
      // add up to the exact runtime; each is rounded to a microsecond on its own).
      ? { user: cpu.userUs / 1000, system: cpu.systemUs / 1000, total: (cpu.userUs + cpu.systemUs) / 1000 }
      : { user: ev.rusage.userUs / 1000, system: ev.rusage.systemUs / 1000, total: (ev.rusage.userUs + ev.rusage.systemUs) / 1000 };
    let limit = this.limit;
    if (!limit && ev.outputFileLimit) limit = 'output';
    if (!limit && oomKilled) limit = 'memory';
    if (!limit && ev.signal === 'SIGXFSZ') limit = 'fileSize';
    if (!limit && ev.signal === 'SIGXCPU') limit = 'cpuTime';
    if (!limit && this.limits.cpuTimeMs !== undefined && cpuTimeMs.total > this.limits.cpuTimeMs && ev.signal === 'SIGKILL') limit = 'cpuTime';
    return { limitExceeded: limit, cpuTimeMs, memoryPeakBytes: mem?.peakBytes ?? null, oomKilled, pidsLimitHit: (pidsHits ?? 0) > 0 };
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
      const used = (readCpuStats(this.cgroup!)?.totalUs ?? 0) / 1000;
      const remaining = this.limits.cpuTimeMs! - used;
      if (remaining <= 0) this.exceed('cpuTime');
      else this.scheduleCpuCheck(Math.max(MIN_POLL_MS, remaining / this.ncpu));
    }, delayMs);
    this.timers.push(t);
  }

  private exceed(limit: LimitName): void {
    if (this.done || this.limit) return;
    this.limit = limit;
    this.killTree(limit);
  }
}

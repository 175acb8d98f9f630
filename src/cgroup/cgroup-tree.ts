import { readdirSync } from 'node:fs';
import { debuglog } from 'node:util';
import { Cgroup, planCgroups, removeCgroupDir, type CgroupPlan } from './cgroup.js';
import { detectCgroups, type V1Controller } from './detect.js';
import { setMemoryLimit } from './memory.js';
import { setPidsLimit } from './pids.js';
import { setCpuQuota } from './cpu.js';
import { setIoWeight } from './io.js';
import { setCpuset } from './cpuset.js';
import type { ResolvedSandboxLimits, ResolvedSpawnLimits } from '../limits/limits.js';

const debug = debuglog('sandkit');
export const SESSION_PREFIX = 'sandkit-';

/** Why cgroups cannot be used here, or the tree sandkit made for this session. */
export type CgroupAvailability = { ok: true; tree: CgroupTree } | { ok: false; reason: string };

/**
 * This process's cgroups: `sandkit-<session>` under its own cgroup in each hierarchy, with a
 * cgroup per sandbox and a leaf per spawn, so every spawn has its own accounting and limits
 * under its sandbox's total.
 */
export class CgroupTree {
  private constructor(
    readonly session: Cgroup,
    readonly plan: CgroupPlan
  ) {}

  /** Creates the session's cgroup, after sweeping those of dead sessions. */
  static open(sessionId: string, isSessionAlive: (id: string) => boolean): CgroupAvailability {
    let base: Cgroup;
    let plan: CgroupPlan;
    try {
      const layout = detectCgroups();
      plan = planCgroups(layout);
      if (!plan.v2 && plan.v1.length === 0) return { ok: false, reason: 'no cgroup hierarchy is mounted' };
      base = Cgroup.base(layout, plan);
    } catch (err) {
      return { ok: false, reason: `cannot read the cgroup layout: ${(err as Error).message}` };
    }
    sweepStaleCgroups(base, isSessionAlive);
    const session = base.child(SESSION_PREFIX + sessionId);
    try {
      base.delegateControllers();
      session.create();
      setCpuset(session, undefined);
      session.delegateControllers();
    } catch (err) {
      void session.remove().catch(() => {});
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        code === 'EBUSY'
          ? 'this process sits in a non-leaf v2 cgroup; run it in a delegated cgroup (systemd Delegate=yes)'
          : 'run as root or in a delegated cgroup';
      return {
        ok: false,
        reason: `cannot create cgroups under ${base.v2Path ?? Object.values(base.v1Paths)[0]}: ${code ?? (err as Error).message}: ${hint}`,
      };
    }
    return { ok: true, tree: new CgroupTree(session, plan) };
  }

  /**
   * A sandbox's cgroup with its whole-sandbox limits applied. `visible`: its spawns see their
   * cgroup files, so it is in every hierarchy a runtime looks for (v1: cpu, cpuacct, cpuset).
   */
  createSandbox(id: string, limits: ResolvedSandboxLimits, visible = false): Cgroup {
    const cg = this.session.child(id);
    cg.create(this.v1For(limits, visible));
    try {
      setCpuset(cg, limits.cpuset);
      applyLimits(cg, limits);
      cg.delegateControllers();
    } catch (err) {
      void cg.remove().catch(() => {});
      throw err;
    }
    return cg;
  }

  /**
   * A spawn's leaf cgroup under its sandbox, with its own limits (and in its sandbox's).
   * `visible`: the program reads this cgroup's files as its root, and runtimes read only the
   * root's (OpenJDK 17 on v2 reads memory.max there alone), so the leaf carries the effective
   * limits: the smaller of the spawn's and the sandbox's memory and pids, the sandbox's quota.
   */
  createSpawn(
    sandbox: Cgroup,
    id: string,
    limits: ResolvedSpawnLimits,
    sandboxLimits: ResolvedSandboxLimits = {},
    visible = false
  ): Cgroup {
    const cg = sandbox.child(id);
    const pids = smaller(limits.pids, sandboxLimits.pids);
    const { cpus, cpuset } = sandboxLimits;
    const own = { pids: limits.pids ?? sandboxLimits.pids, cpus, cpuset };
    // The v1 cpu, cpuacct and cpuset hierarchies only for a sandbox with a CPU limit: moving a
    // task into them takes the cgroup locks every fork on the host waits for (a burst of spawns
    // stalled other sandboxes for tens of seconds), so without one a spawn on a hybrid host shows
    // only the hierarchies its limits use (docs/limits.md).
    const inherit = visible && (cpus !== undefined || cpuset !== undefined) ? this.v1For(own, true) : [];
    cg.create(this.v1For(own, false), inherit);
    try {
      setCpuset(cg, cpuset);
      if (visible) {
        applyLimits(cg, { memory: smaller(limits.memory, sandboxLimits.memory), pids, cpus });
      } else applyLimits(cg, { memory: limits.memory, pids: limits.pids });
    } catch (err) {
      void cg.remove().catch(() => {});
      throw err;
    }
    return cg;
  }

  /**
   * The v1 hierarchies a cgroup with these limits needs: memory always (peak and OOM are part of
   * every result), cpuacct and freezer where there is no v2 tree, pids and cpu only for a limit.
   */
  private v1For(limits: { pids?: number; cpus?: number; cpuset?: number[] }, visible: boolean): V1Controller[] {
    return this.plan.v1.filter((c) => {
      if (c === 'pids') return limits.pids !== undefined;
      if (c === 'cpu') return limits.cpus !== undefined || visible;
      if (c === 'cpuset') return limits.cpuset !== undefined || visible;
      if (c === 'cpuacct') return !this.plan.v2 || visible;
      return true;
    });
  }

  /** Removes the session's cgroups (every process in them must be dead). */
  async close(): Promise<void> {
    await this.session.remove();
  }
}

function smaller(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function applyLimits(cg: Cgroup, l: ResolvedSandboxLimits): void {
  if (l.memory !== undefined) setMemoryLimit(cg, l.memory);
  if (l.pids !== undefined) setPidsLimit(cg, l.pids);
  if (l.cpus !== undefined) setCpuQuota(cg, l.cpus);
  if (l.ioWeight !== undefined) setIoWeight(cg, l.ioWeight);
}

/** Removes `sandkit-<session>` cgroups left by sessions that are gone (a crash, kill -9). */
export function sweepStaleCgroups(base: Cgroup, isSessionAlive: (id: string) => boolean): void {
  for (const dir of [base.v2Path, ...Object.values(base.v1Paths)]) {
    if (!dir) continue;
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.startsWith(SESSION_PREFIX));
    } catch {
      continue;
    }
    for (const name of names) {
      if (isSessionAlive(name.slice(SESSION_PREFIX.length))) continue;
      debug('sweeping stale cgroup %s/%s', dir, name);
      void removeCgroupDir(`${dir}/${name}`).catch((err) => debug('cannot sweep %s: %o', name, err));
    }
  }
}

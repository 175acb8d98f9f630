import type { Cgroup } from '../cgroup/cgroup.js';
import type { CgroupAvailability, CgroupTree } from '../cgroup/cgroup-tree.js';
import { enforcementOf, type SandboxEnforcement } from '../cgroup/enforcement.js';
import { canFreeze } from '../cgroup/freezer.js';
import { pickCpus } from '../cgroup/cpuset.js';
import { SandboxUnsupportedError } from '../errors/sandbox-error.js';
import { cgroupLimitNames, type ResolvedSpawnLimits } from '../limits/limits.js';
import type { ResolvedSandboxOptions } from './options.js';
import { cgroupsFor } from './runtime.js';
import { removeInBackground } from '../platform/background-removal.js';

/**
 * Where a sandbox's limits are enforced: its cgroup under this session's tree where the host
 * has the controllers, rlimit stand-ins for default limits where it has not. An explicit limit
 * no controller serves rejects the start (or the spawn) unless `limitFallback: 'rlimit'`.
 */
export class SandboxCgroups {
  /** The sandbox's own cgroup, once made. */
  cgroup: Cgroup | undefined;

  private constructor(
    private readonly options: ResolvedSandboxOptions,
    private readonly availability: CgroupAvailability,
    /** How each limit is enforced here. */
    readonly enforcement: SandboxEnforcement,
    cpus: number[] | undefined
  ) {
    this.cpus = cpus;
  }

  /** Whether spawns see their cgroup files (their own cgroup namespace), so cgroups carry them. */
  private get visible(): boolean {
    return this.options.namespaces.cgroup;
  }

  /**
   * The CPUs the sandbox's programs run on: `limits.cpuset`, else ceil(`cpus`) of the host's
   * when a quota is set; undefined: all of them.
   */
  readonly cpus: number[] | undefined;

  /** Decides how the sandbox's limits are enforced. @throws {SandboxUnsupportedError} */
  static decide(options: ResolvedSandboxOptions): SandboxCgroups {
    const availability = cgroupsFor(options.stateDir);
    const enforcement = enforcementOf(options.limits, availability.ok ? availability.tree.plan.controllers : undefined);
    const cpus =
      options.limits.cpuset ?? (options.limits.cpus !== undefined ? pickCpus(options.limits.cpus) : undefined);
    if (cpus && availability.ok && availability.tree.plan.cpuset) enforcement.cgroup.cpuset = cpus;
    const placed = new SandboxCgroups(options, availability, enforcement, cpus);
    placed.require(enforcement.missing);
    return placed;
  }

  /** When the sandbox was made (ms since the epoch): its own boot time with a time namespace. */
  startedAt = Date.now();

  /** Makes the sandbox's cgroup (only spawns live in it, not its init). */
  createSandboxCgroup(id: string): void {
    this.startedAt = Date.now();
    this.cgroup = this.tree?.createSandbox(id, this.enforcement.cgroup, this.visible);
  }

  /** A cgroup of its own for spawn `name`, with the spawn's limits; undefined without cgroups. */
  createSpawnCgroup(name: string, limits: ResolvedSpawnLimits): Cgroup | undefined {
    if (!this.tree) this.require(cgroupLimitNames({}, limits).map((n) => `cgroup ${n} limit`));
    return this.tree && this.cgroup
      ? this.tree.createSpawn(this.cgroup, name, limits, this.enforcement.cgroup, this.visible)
      : undefined;
  }

  /** The sandbox's cgroup when it can be frozen. */
  freezable(): Cgroup | undefined {
    return this.cgroup && canFreeze(this.cgroup) ? this.cgroup : undefined;
  }

  async remove(): Promise<void> {
    await this.cgroup?.remove().catch(() => {});
  }

  /**
   * Removes the sandbox's cgroup without waiting: its processes are dead already, so nothing
   * in it can be observed any more. Finished before Node exits (or by the next session's sweep).
   */
  removeSoon(): void {
    const cgroup = this.cgroup;
    if (cgroup)
      removeInBackground(
        () => cgroup.remove(),
        () => cgroup.removeSync()
      );
  }

  private get tree(): CgroupTree | undefined {
    return this.availability.ok ? this.availability.tree : undefined;
  }

  /** Throws for limits no cgroup here can enforce, unless the sandbox accepts rlimits instead. */
  private require(missing: string[]): void {
    if (missing.length === 0 || this.options.limitFallback !== 'error') return;
    const reason = this.availability.ok
      ? 'this host has no such cgroup controller (sandkit doctor lists them)'
      : this.availability.reason;
    throw new SandboxUnsupportedError(missing, `${reason}; or pass limitFallback: 'rlimit'`);
  }
}

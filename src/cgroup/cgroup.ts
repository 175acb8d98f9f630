import { mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readCgroupFile, writeCgroupFile } from './cgroup-fs.js';
import type { CgroupLayout, V1Controller } from './detect.js';

/** Logical controllers and where each lives on this host. */
export type Controller = 'memory' | 'pids' | 'cpu' | 'io';
/** Which cgroup hierarchy serves a controller here: v2, v1, or none. */
export type Placement = 'v2' | 'v1' | null;

/** Which hierarchy serves each controller, decided once per host. */
export interface CgroupPlan {
  controllers: Record<Controller, Placement>;
  /** The v2 tree is usable (freeze, kill and cpu.stat work without any controller). */
  v2: boolean;
  /** v1 hierarchies in use. */
  v1: V1Controller[];
  /** Where the cpuset controller is (limits.cpuset, the CPUs a spawn sees). */
  cpuset?: Placement;
  /** v1 hierarchy → its controllers as mount options, for the cgroup files inside a spawn. */
  v1Options?: Partial<Record<V1Controller, string>>;
}

/** Picks v2 for every controller it has, v1 for the rest (hybrid hosts), none when neither. */
export function planCgroups(layout: CgroupLayout): CgroupPlan {
  const has1 = (c: V1Controller) => layout.v1.has(c);
  const pick = (v2name: string, v1name: V1Controller | null): Placement =>
    layout.v2Controllers.has(v2name) ? 'v2' : v1name && has1(v1name) ? 'v1' : null;
  const controllers: Record<Controller, Placement> = {
    memory: pick('memory', 'memory'),
    pids: pick('pids', 'pids'),
    cpu: pick('cpu', 'cpu'),
    io: pick('io', null),
  };
  const v1 = new Set<V1Controller>();
  if (controllers.memory === 'v1') v1.add('memory');
  if (controllers.pids === 'v1') v1.add('pids');
  if (controllers.cpu === 'v1') v1.add('cpu');
  if (!layout.v2Mount && has1('freezer')) v1.add('freezer');
  // cpuacct: CPU usage without v2; with it, what runtimes inside expect to find beside cpu.
  if (has1('cpuacct')) v1.add('cpuacct');
  const cpuset: Placement = layout.v2Controllers.has('cpuset') ? 'v2' : has1('cpuset') ? 'v1' : null;
  if (cpuset === 'v1') v1.add('cpuset');
  const v1Options: Partial<Record<V1Controller, string>> = {};
  for (const c of v1) v1Options[c] = layout.v1.get(c)?.options ?? c;
  return { controllers, v2: layout.v2Mount !== null, v1: [...v1], cpuset, v1Options };
}

/**
 * One cgroup, present in the v2 tree and/or in v1 hierarchies (hybrid hosts). sandkit creates
 * a tree `sandkit-<session>/<sandbox>/<spawn>` and never touches cgroups it did not create.
 */
export class Cgroup {
  constructor(
    readonly plan: CgroupPlan,
    /** Path in the v2 tree, if v2 is used. */
    readonly v2Path: string | null,
    /** Path per v1 hierarchy in use. */
    readonly v1Paths: Partial<Record<V1Controller, string>>
  ) {}

  /** The base under which this process may create cgroups: its own cgroup in each hierarchy. */
  static base(layout: CgroupLayout, plan: CgroupPlan): Cgroup {
    const v2 = plan.v2 && layout.v2Mount ? join(layout.v2Mount, layout.v2Own ?? '/') : null;
    const v1: Partial<Record<V1Controller, string>> = {};
    for (const c of plan.v1) {
      const m = layout.v1.get(c)!;
      v1[c] = join(m.mount, m.own);
    }
    return new Cgroup(plan, v2, v1);
  }

  child(name: string): Cgroup {
    const v1: Partial<Record<V1Controller, string>> = {};
    for (const [c, p] of Object.entries(this.v1Paths)) v1[c as V1Controller] = join(p, name);
    return new Cgroup(this.plan, this.v2Path && join(this.v2Path, name), v1);
  }

  /** Path of a file in the hierarchy that serves `controller` (v1 name for v1 hosts). */
  file(controller: Controller | 'core', name: string, v1Hierarchy?: V1Controller): string | undefined {
    const placement = controller === 'core' ? (this.v2Path ? 'v2' : 'v1') : this.plan.controllers[controller];
    if (placement === 'v2') return this.v2Path ? join(this.v2Path, name) : undefined;
    const dir = this.v1Paths[v1Hierarchy ?? (controller as V1Controller)];
    return dir ? join(dir, name) : undefined;
  }

  /** The v1 hierarchies this cgroup was made in (and a process joins); all by default. */
  private joined: V1Controller[] | undefined;
  /** v1 hierarchies where a process joining this cgroup joins its parent instead (see create). */
  private inherited: V1Controller[] = [];

  /**
   * Makes this cgroup in the v2 tree and in the v1 hierarchies `v1` (default: every one in use).
   * Joining a v1 cgroup costs a write to cgroup.procs under a global lock, so spawns skip the
   * hierarchies no limit of theirs needs.
   */
  create(v1: V1Controller[] = Object.keys(this.v1Paths) as V1Controller[], inherit: V1Controller[] = []): void {
    if (this.v2Path) mkdirSync(this.v2Path, { recursive: true });
    this.joined = v1.filter((c) => this.v1Paths[c]);
    // `inherit`: hierarchies a process must be in with no limit of this cgroup's own (a spawn's
    // cpu, cpuacct and cpuset for the runtime view): it joins the parent there, which costs a
    // cgroup.procs write, not a v1 mkdir and rmdir per spawn (the rmdir waits on RCU under the
    // cgroup lock, and a burst of them stalled every sandbox).
    this.inherited = inherit.filter((c) => this.v1Paths[c] && !this.joined!.includes(c));
    for (const c of this.joined) mkdirSync(this.v1Paths[c]!, { recursive: true });
  }

  /** Enables the v2 controllers sandkit uses for this cgroup's children. */
  delegateControllers(): void {
    if (!this.v2Path) return;
    const wanted: string[] = (['memory', 'pids', 'cpu', 'io'] as const).filter(
      (c) => this.plan.controllers[c] === 'v2'
    );
    if (this.plan.cpuset === 'v2') wanted.push('cpuset');
    if (wanted.length === 0) return;
    const enabled = new Set((readCgroupFile(join(this.v2Path, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/));
    const missing = wanted.filter((c) => !enabled.has(c));
    if (missing.length)
      writeCgroupFile(join(this.v2Path, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  }

  /** The directory holding this cgroup's memory.* files (v2 or v1), if memory is controlled. */
  memoryDir(): string | undefined {
    const placement = this.plan.controllers.memory;
    return placement === 'v2' ? (this.v2Path ?? undefined) : placement === 'v1' ? this.v1Paths.memory : undefined;
  }

  /** Whether this cgroup has a directory of its own in v1 hierarchy `c`. */
  madeInV1(c: V1Controller): boolean {
    return (this.joined ?? (Object.keys(this.v1Paths) as V1Controller[])).includes(c);
  }

  /** The v1 hierarchies a process joining this cgroup is in (its own, or its parent's). */
  joinedV1(): V1Controller[] {
    return [...(this.joined ?? (Object.keys(this.v1Paths) as V1Controller[])), ...this.inherited];
  }

  /** The v1 `cgroup.procs` files a process must join (v2 uses CLONE_INTO_CGROUP instead). */
  v1ProcsFiles(): string[] {
    const joined = this.joined ?? (Object.keys(this.v1Paths) as V1Controller[]);
    return [
      ...joined.map((c) => join(this.v1Paths[c]!, 'cgroup.procs')),
      ...this.inherited.map((c) => join(dirname(this.v1Paths[c]!), 'cgroup.procs')),
    ];
  }

  /** Synchronous best-effort removal, for process exit. */
  removeSync(): void {
    for (const dir of [this.v2Path, ...Object.values(this.v1Paths)]) if (dir) removeCgroupDirSync(dir);
  }

  /** Removes this cgroup and its children, deepest first; retries while tasks finish dying. */
  async remove(): Promise<void> {
    for (const dir of [this.v2Path, ...Object.values(this.v1Paths)]) if (dir) await removeCgroupDir(dir);
  }
}

/** Best-effort synchronous removal (at process exit): empty cgroups go, busy ones stay for the sweep. */
export function removeCgroupDirSync(dir: string): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) removeCgroupDirSync(join(dir, e.name));
    rmdirSync(dir);
  } catch {
    // the next session's sweep removes it
  }
}

/** Removes a cgroup directory tree (cgroup dirs are removed with rmdir, deepest first). */
export async function removeCgroupDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const name of entries) await removeCgroupDir(join(dir, name));
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY: the last tasks are still exiting; they are already killed.
      if (code !== 'EBUSY' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

import type { Controller, Placement } from './cgroup.js';
import type { RlimitName } from '../helper/protocol.js';
import type { DefaultedLimit, ResolvedSandboxLimits } from '../limits/limits.js';

/** How a sandbox's limits are enforced on this host, decided when it starts. */
export interface SandboxEnforcement {
  /** The limits written into the sandbox's cgroup. */
  cgroup: ResolvedSandboxLimits;
  /** Explicit limits no controller here can enforce (`cgroup memory limit`, ...). */
  missing: string[];
  /** Per-process rlimits standing in for default limits the host has no controller for. */
  rlimits: Array<[RlimitName, number, number]>;
  /** For `sandkit doctor`: each default limit and how it is enforced. */
  defaults: Partial<Record<DefaultedLimit, string>>;
}

type Controllers = Record<Controller, Placement>;

const SANDBOX_CGROUP_LIMITS: Array<{
  limit: 'memory' | 'pids' | 'cpus' | 'ioWeight';
  controller: Controller;
  v2Only?: boolean;
}> = [
  { limit: 'memory', controller: 'memory' },
  { limit: 'pids', controller: 'pids' },
  { limit: 'cpus', controller: 'cpu' },
  { limit: 'ioWeight', controller: 'io', v2Only: true },
];

/**
 * Splits sandbox limits by what enforces them: a cgroup controller where the host has one; an
 * explicit limit without one is `missing` (the start rejects unless `limitFallback: 'rlimit'`);
 * a default one falls back to an rlimit (memory → RLIMIT_AS per process, pids → RLIMIT_NPROC,
 * which counts the processes of a uid in the sandbox's user namespace), so the defaults never
 * stop a sandbox from starting. `controllers` is undefined without cgroups.
 */
export function enforcementOf(limits: ResolvedSandboxLimits, controllers: Controllers | undefined): SandboxEnforcement {
  const out: SandboxEnforcement = { cgroup: {}, missing: [], rlimits: [], defaults: {} };
  for (const { limit, controller, v2Only } of SANDBOX_CGROUP_LIMITS) {
    const value = limits[limit];
    if (value === undefined) continue;
    const placement = controllers?.[controller] ?? null;
    const usable = v2Only ? placement === 'v2' : placement !== null;
    const defaulted = (limits.defaulted as readonly string[] | undefined)?.includes(limit) ?? false;
    if (usable) {
      out.cgroup[limit] = value;
      if (defaulted) out.defaults[limit as DefaultedLimit] = `cgroup ${placement} ${controller} controller`;
    } else if (!defaulted) {
      out.missing.push(`cgroup ${controller === 'cpu' ? 'cpu' : controller} limit`);
    } else if (limit === 'memory') {
      out.rlimits.push(['as', value, value]);
      out.defaults.memory = 'RLIMIT_AS per process (no cgroup memory controller)';
    } else if (limit === 'pids') {
      out.rlimits.push(['nproc', value, value]);
      out.defaults.pids = 'RLIMIT_NPROC per uid in the sandbox (no cgroup pids controller)';
    }
  }
  if (limits.disk !== undefined) out.cgroup.disk = limits.disk;
  if (limits.defaulted?.includes('disk'))
    out.defaults.disk = 'size of the tmpfs holding the writable layer, /tmp, /run and /dev/shm';
  return out;
}

import { readFileSync } from 'node:fs';
import type { Cgroup } from '../cgroup/cgroup.js';
import { parseNumber, readCgroupFile } from '../cgroup/cgroup-fs.js';
import type { SpawnRequest } from '../helper/protocol.js';
import type { ResolvedSpawnLimits } from '../limits/limits.js';
import { timeNamespaceSupported } from '../namespaces/time.js';
import type { ResolvedSandboxOptions } from './options.js';
import { cpuinfoFor, LOADAVG_IDLE, meminfoFor, statFor, SWAPS_EMPTY } from './proc-view.js';
import type { SandboxCgroups } from './sandbox-cgroups.js';

type View = NonNullable<SpawnRequest['view']>;

let hostCpuinfo: string | undefined;

/** The host's /proc file (Node's own /proc, never a sandbox's), capped: it is the kernel's. */
function hostProc(name: string): string {
  return readFileSync(`/proc/${name}`, 'utf8').slice(0, 1 << 20);
}

/** Bytes in use in a cgroup's memory controller, 0 when unknown. */
function memoryUsed(cg: Cgroup | undefined): number {
  const dir = cg?.memoryDir();
  if (!dir) return 0;
  const file = cg!.plan.controllers.memory === 'v2' ? 'memory.current' : 'memory.usage_in_bytes';
  return parseNumber(readCgroupFile(`${dir}/${file}`)) ?? 0;
}

/** Where runtimes inside a spawn look for its cgroup files: the cgroup mounts to make. */
function cgroupMounts(spawnCgroup: Cgroup | undefined): Pick<View, 'cgroup2' | 'cgroup1'> {
  if (!spawnCgroup) return { cgroup2: null, cgroup1: [] };
  const plan = spawnCgroup.plan;
  const v1 = [...new Set(spawnCgroup.joinedV1().map((c) => plan.v1Options?.[c] ?? c))];
  const cgroup2 = spawnCgroup.v2Path ? (plan.v1.length > 0 ? 'unified' : '') : null;
  return { cgroup2, cgroup1: v1 };
}

/** The /proc files a spawn reads in place of the host's. */
function procFiles(
  cgroups: SandboxCgroups,
  spawnCgroup: Cgroup | undefined,
  limits: ResolvedSpawnLimits
): View['procFiles'] {
  const files: View['procFiles'] = [['loadavg', LOADAVG_IDLE]];
  const sandboxMemory = cgroups.enforcement.cgroup.memory;
  if (spawnCgroup?.memoryDir() && (sandboxMemory !== undefined || limits.memory !== undefined)) {
    const own = limits.memory ?? Infinity;
    const left = sandboxMemory !== undefined ? sandboxMemory - memoryUsed(cgroups.cgroup) : Infinity;
    const limit = Math.min(own, sandboxMemory ?? Infinity);
    files.push(['meminfo', meminfoFor(limit, limit - Math.min(own, left), hostProc('meminfo'))]);
    files.push(['swaps', SWAPS_EMPTY]);
  }
  if (cgroups.cpus) {
    hostCpuinfo ??= hostProc('cpuinfo');
    const btime = timeNamespaceSupported() ? Math.floor(cgroups.startedAt / 1000) : undefined;
    files.push(['cpuinfo', cpuinfoFor(cgroups.cpus, hostCpuinfo)]);
    files.push(['stat', statFor(cgroups.cpus, hostProc('stat'), btime)]);
  }
  return files;
}

/**
 * What a spawn's programs read about their limits (native/src/runtime_view.c): their cgroup's
 * files at /sys/fs/cgroup (with their own cgroup namespace), the sandbox's CPUs as their
 * affinity, and with `procView: 'sandbox'` /proc files that match the limits.
 */
export function runtimeViewFor(
  options: ResolvedSandboxOptions,
  cgroups: SandboxCgroups,
  spawnCgroup: Cgroup | undefined,
  limits: ResolvedSpawnLimits
): View | undefined {
  const mounts = options.namespaces.cgroup ? cgroupMounts(spawnCgroup) : { cgroup2: null, cgroup1: [] };
  const view: View = {
    ...mounts,
    cpus: cgroups.cpus ?? [],
    procFiles: options.procView === 'sandbox' ? procFiles(cgroups, spawnCgroup, limits) : [],
  };
  const empty = view.cgroup2 === null && !view.cgroup1.length && !view.cpus.length && !view.procFiles.length;
  return empty ? undefined : view;
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCgroupFile } from './cgroup-fs.js';

/** v1 controllers sandkit uses where a host still mounts them as v1 hierarchies. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer', 'cpuset'] as const;
/** Every v1 controller name the kernel knows: what a hierarchy's mount options may bind. */
const KERNEL_V1 = new Set([
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'blkio',
  'perf_event',
  'net_prio',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
]);
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** The cgroup hierarchies this process can use and where it sits in each. */
export interface CgroupLayout {
  /** Mount point of cgroup2, if mounted. */
  v2Mount: string | null;
  /** This process's cgroup in the v2 hierarchy ("/" for the root). */
  v2Own: string | null;
  /** Controllers available in the v2 hierarchy at this process's cgroup. */
  v2Controllers: Set<string>;
  /**
   * v1 controller → mount point, this process's cgroup in it, and the hierarchy's controllers
   * as mount options (`cpu,cpuacct` where they share one), to mount it again inside a spawn.
   */
  v1: Map<V1Controller, { mount: string; own: string; options?: string }>;
}

/** Reads where cgroup hierarchies are mounted and where this process sits in them. */
export function detectCgroups(mountinfo = '/proc/self/mountinfo', cgroupFile = '/proc/self/cgroup'): CgroupLayout {
  const own = new Map<string, string>();
  for (const line of readFileSync(cgroupFile, 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    for (const c of (controllers ?? '').split(',')) own.set(c, path ?? '/');
  }
  let v2Mount: string | null = null;
  const v1 = new Map<V1Controller, { mount: string; own: string; options?: string }>();
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mountPoint = pre.split(' ')[4]!;
    const [fstype, , superOptions] = post.split(' ');
    if (fstype === 'cgroup2' && v2Mount === null) v2Mount = mountPoint;
    if (fstype !== 'cgroup') continue;
    const bound = (superOptions ?? '').split(',').filter((o) => KERNEL_V1.has(o));
    for (const opt of bound) {
      const c = opt as V1Controller;
      if ((V1_CONTROLLERS as readonly string[]).includes(c) && !v1.has(c))
        v1.set(c, { mount: mountPoint, own: own.get(c) ?? '/', options: bound.join(',') });
    }
  }
  const v2Own = v2Mount ? (own.get('') ?? '/') : null;
  const controllersFile = v2Mount && v2Own ? readCgroupFile(join(v2Mount, v2Own, 'cgroup.controllers')) : undefined;
  return {
    v2Mount,
    v2Own,
    v1,
    v2Controllers: new Set((controllersFile ?? '').trim().split(/\s+/).filter(Boolean)),
  };
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCgroupFile } from './cgroup-fs.js';

/** v1 controllers sandkit uses where a host still mounts them as v1 hierarchies. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** The cgroup hierarchies this process can use and where it sits in each. */
export interface CgroupLayout {
  /** Mount point of cgroup2, if mounted. */
  v2Mount: string | null;
  /** This process's cgroup in the v2 hierarchy ("/" for the root). */
  v2Own: string | null;
  /** Controllers available in the v2 hierarchy at this process's cgroup. */
  v2Controllers: Set<string>;
  /** v1 controller → mount point and this process's cgroup in it. */
  v1: Map<V1Controller, { mount: string; own: string }>;
}

/** Reads where cgroup hierarchies are mounted and where this process sits in them. */
export function detectCgroups(mountinfo = '/proc/self/mountinfo', cgroupFile = '/proc/self/cgroup'): CgroupLayout {
  const own = new Map<string, string>();
  for (const line of readFileSync(cgroupFile, 'utf8').trim().split('\n')) {
    const [, controllers, path] = line.split(':');
    for (const c of (controllers ?? '').split(',')) own.set(c, path ?? '/');
  }
  let v2Mount: string | null = null;
  const v1 = new Map<V1Controller, { mount: string; own: string }>();
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mountPoint = pre.split(' ')[4]!;
    const [fstype, , superOptions] = post.split(' ');
    if (fstype === 'cgroup2' && v2Mount === null) v2Mount = mountPoint;
    if (fstype !== 'cgroup') continue;
    for (const opt of (superOptions ?? '').split(',')) {
      const c = opt as V1Controller;
      if ((V1_CONTROLLERS as readonly string[]).includes(c) && !v1.has(c))
        v1.set(c, { mount: mountPoint, own: own.get(c) ?? '/' });
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

import type { Cgroup } from './cgroup.js';
import { writeCgroupFile } from './cgroup-fs.js';

/** Sets the proportional I/O weight (1–10000, default 100); v2 with the io controller only. */
export function setIoWeight(cg: Cgroup, weight: number): boolean {
  if (cg.plan.controllers.io !== 'v2') return false;
  writeCgroupFile(cg.file('io', 'io.weight')!, `default ${weight}`);
  return true;
}

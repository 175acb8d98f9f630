import type { Cgroup } from './cgroup.js';
import { parseFlatKeyed, readCgroupFile, writeCgroupFile } from './cgroup-fs.js';

/** Freezes or thaws every process in the group and waits until the kernel reports it done. */
export async function setFrozen(cg: Cgroup, frozen: boolean): Promise<void> {
  if (cg.v2Path) {
    writeCgroupFile(cg.file('core', 'cgroup.freeze')!, frozen ? 1 : 0);
    await waitFor(() => parseFlatKeyed(readCgroupFile(cg.file('core', 'cgroup.events')!)).frozen === (frozen ? 1 : 0));
    return;
  }
  const state = `${cg.v1Paths.freezer}/freezer.state`;
  writeCgroupFile(state, frozen ? 'FROZEN' : 'THAWED');
  await waitFor(() => readCgroupFile(state)?.trim() === (frozen ? 'FROZEN' : 'THAWED'));
}

/** True when this host can freeze groups. */
export function canFreeze(cg: Cgroup): boolean {
  return !!cg.v2Path || !!cg.v1Paths.freezer;
}

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 2));
}

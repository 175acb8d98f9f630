// Global setup of the integration project (runs once, in vitest's main process): builds the
// probe and dist/, gives the run its own SANDKIT_STATE_DIR (inherited by every worker), and at
// the end checks that nothing was left behind: no mount, no sandbox process, no sandbox directory.
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { ensureDist } from './dist.js';
import { hostProcess, mountsMentioning, sandboxDirsUnder, sandboxProcessesUsing, waitUntil } from './host.js';
import { probePath } from './probe.js';
import { sandkitLinks } from './network.js';
import { detectCgroups } from '../../src/cgroup/detect.js';
import { Cgroup, planCgroups, removeCgroupDir } from '../../src/cgroup/cgroup.js';
import { SESSION_PREFIX } from '../../src/cgroup/cgroup-tree.js';

// vitest runs this setup once per project of a run, in one process: the first makes the run's
// state directory, later ones share it (rather than nesting a directory in it each, which made
// paths too long for a unix socket), and the last teardown checks and removes it.
const shared = globalThis as { sandkitTestRun?: { stateDir: string; projects: number } };

export default function setup(): () => Promise<void> {
  probePath();
  ensureDist();
  let run = shared.sandkitTestRun;
  if (!run) {
    const base = process.env.SANDKIT_STATE_DIR ?? tmpdir();
    mkdirSync(base, { recursive: true });
    run = shared.sandkitTestRun = { stateDir: mkdtempSync(join(base, 'sandkit-it-')), projects: 0 };
    process.env.SANDKIT_STATE_DIR = run.stateDir;
    // Every line the helper sends an SDK under test is checked against spec/protocol.json.
    process.env.SANDKIT_CHECK_PROTOCOL = '1';
  }
  run.projects++;
  const stateDir = run.stateDir;

  return async () => {
    if (--run.projects > 0) return;
    shared.sandkitTestRun = undefined;
    const problems: string[] = [];
    // The last worker may still be exiting (its helper dies with it): give it a moment.
    if (!(await waitUntil(() => sandboxProcessesUsing(stateDir).length === 0, 5000, 50))) {
      for (const p of sandboxProcessesUsing(stateDir)) problems.push(`process left in a sandbox: ${ancestry(p.pid)}`);
    }
    // Overlays and binds live in sandbox mount namespaces only; none may show up in ours.
    for (const line of mountsMentioning(stateDir)) problems.push(`mount of the state dir left on the host: ${line}`);
    for (const dir of sandboxDirsUnder(stateDir)) problems.push(`sandbox directory left behind: ${dir}`);
    // sandkit's network devices (veths sk…, bridges skbr…) go with their sandboxes and networks.
    if (!(await waitUntil(() => sandkitLinks().length === 0, 5000, 50))) {
      for (const link of sandkitLinks()) problems.push(`network device left on the host: ${link}`);
    }
    problems.push(...(await sessionCgroupLeaks(stateDir)));
    removeTreeSync(stateDir);
    if (problems.length > 0) {
      process.exitCode = 1; // vitest only logs errors thrown here; this makes the run fail
      throw new Error(`the integration tests leaked:\n  ${problems.join('\n  ')}`);
    }
  };
}

/** "pid cmdline < parent cmdline < ..." up to the host's init, to tell whose process leaked. */
function ancestry(pid: number): string {
  const chain: string[] = [];
  for (let p = hostProcess(pid); p && chain.length < 8; p = p.ppid > 1 ? hostProcess(p.ppid) : undefined) {
    chain.push(`${p.pid} ${JSON.stringify(p.cmdline)}`);
  }
  return chain.join(' < ');
}

/**
 * Workers end without Node's exit hook, so their session cgroups stay until the next start
 * sweeps them. Remove them now (as that sweep would), but a sandbox or spawn cgroup still inside
 * one is a leak: destroy() must have removed it.
 */
async function sessionCgroupLeaks(stateDir: string): Promise<string[]> {
  const sessions = join(stateDir, 'sessions');
  if (!existsSync(sessions)) return [];
  const layout = detectCgroups();
  const base = Cgroup.base(layout, planCgroups(layout));
  const leaks: string[] = [];
  for (const id of readdirSync(sessions)) {
    const cg = base.child(SESSION_PREFIX + id);
    for (const dir of [cg.v2Path, ...Object.values(cg.v1Paths)]) {
      if (!dir || !existsSync(dir)) continue;
      const children = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
      for (const child of children) leaks.push(`cgroup left behind: ${dir}/${child}`);
      await removeCgroupDir(dir).catch((err: Error) => leaks.push(`cannot remove ${dir}: ${err.message}`));
    }
  }
  return leaks;
}

// Global setup of the integration project (runs once, in vitest's main process): builds the
// probe and dist/, gives the run its own SANDKIT_STATE_DIR (inherited by every worker), and at
// the end checks that nothing was left behind: no mount, no sandbox process, no sandbox directory.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { ensureDist } from './dist.js';
import {
  hostProcess, mountsMentioning, sandboxDirsUnder, sandboxProcessesUsing, waitUntil,
} from './host.js';
import { probePath } from './probe.js';

export default function setup(): () => Promise<void> {
  probePath();
  ensureDist();
  const base = process.env.SANDKIT_STATE_DIR ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(join(base, 'sandkit-it-'));
  process.env.SANDKIT_STATE_DIR = stateDir;

  return async () => {
    const problems: string[] = [];
    // The last worker may still be exiting (its helper dies with it): give it a moment.
    if (!(await waitUntil(() => sandboxProcessesUsing(stateDir).length === 0, 5000, 50))) {
      for (const p of sandboxProcessesUsing(stateDir)) problems.push(`process left in a sandbox: ${ancestry(p.pid)}`);
    }
    // Overlays and binds live in sandbox mount namespaces only; none may show up in ours.
    for (const line of mountsMentioning(stateDir)) problems.push(`mount of the state dir left on the host: ${line}`);
    for (const dir of sandboxDirsUnder(stateDir)) problems.push(`sandbox directory left behind: ${dir}`);
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

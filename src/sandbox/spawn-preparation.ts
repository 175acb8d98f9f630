import { rmSync } from 'node:fs';
import type { SpawnRequest } from '../helper/protocol.js';
import type { PreparedSpawn } from '../process/sandbox-process.js';
import { checkSpawnPayload, spawnRequestFor, stdinFileOf, type SpawnDefaults } from '../process/spawn-request.js';
import type { ResolvedSpawnOptions } from '../process/spawn-options.js';
import { resolveUser } from '../process/user.js';
import type { ResolvedSandboxOptions } from './options.js';
import type { SandboxCgroups } from './sandbox-cgroups.js';
import type { SandboxRoot } from './sandbox-root.js';
import { runtimeViewFor } from './runtime-view.js';

/** What a spawn of a started sandbox is prepared from. */
export interface SpawnPreparation {
  sandbox: string;
  options: ResolvedSandboxOptions;
  root: SandboxRoot;
  cgroups: SandboxCgroups;
}

/** The spawn's cgroup and its `spawn` request, checked to fit what the sandbox's init takes. */
export function prepareSpawn(on: SpawnPreparation, id: string, spawn: ResolvedSpawnOptions): PreparedSpawn {
  const cgroup = on.cgroups.createSpawnCgroup(id.slice(on.sandbox.length + 1), spawn.limits);
  try {
    const request = spawnRequestFor({
      id,
      spawn,
      defaults: spawnDefaults(on),
      user: resolveUser(spawn.user, on.root.passwdSources()),
      cgroup,
    });
    // Default limits the host has no controller for: their rlimit stand-ins, unless set already.
    for (const r of on.cgroups.enforcement.rlimits)
      if (!request.rlimits.some(([name]) => name === r[0])) request.rlimits.push(r);
    const view = runtimeViewFor(on.options, on.cgroups, cgroup, spawn.limits);
    if (view) request.view = view;
    checkPayload(request);
    return { request, cgroup };
  } catch (err) {
    cgroup?.remove().catch(() => {});
    throw err;
  }
}

function spawnDefaults({ sandbox, options }: SpawnPreparation): SpawnDefaults {
  return {
    sandbox,
    env: { ...options.image.config.env, ...options.env },
    cwd: options.cwd,
    cgroupns: options.namespaces.cgroup,
    limits: options.limits,
    rlimitFallback: options.limitFallback === 'rlimit',
    security: options.security,
    stateDir: options.stateDir,
  };
}

function checkPayload(request: SpawnRequest): void {
  try {
    checkSpawnPayload(request);
  } catch (err) {
    const stdinFile = stdinFileOf(request); // asFile data already written: nobody else removes it
    if (stdinFile) rmSync(stdinFile, { force: true });
    throw err;
  }
}

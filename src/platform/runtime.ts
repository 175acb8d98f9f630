import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { helperConnection, type HelperConnection } from '../helper/helper-connection.js';
import { buildHostLayer, type HostLayer } from '../rootfs/host-layer.js';
import { Session, isSessionAlive } from './session.js';
import { CgroupTree, type CgroupAvailability } from '../cgroup/cgroup-tree.js';
import { checkStateDir, defaultStateDir, defaultStoreDir } from './state-dir.js';

const debug = debuglog('sandkit');

/** One state root in use by this process: its session and, once needed, its host layer. */
interface Runtime {
  session: Session;
  hostLayer?: HostLayer;
  cgroups?: CgroupAvailability;
  swept?: Promise<void>;
}

const runtimes = new Map<string, Runtime>();
let exitHookInstalled = false;

/** The session for a state root, opened (and stale sessions swept) on first use. */
export function sessionFor(stateDir = defaultStateDir()): Session {
  let rt = runtimes.get(stateDir);
  if (!rt) {
    checkStateDir(stateDir, stateDir === process.env.SANDKIT_STATE_DIR ? 'SANDKIT_STATE_DIR' : 'stateDir');
    rt = { session: Session.open(stateDir) };
    runtimes.set(stateDir, rt);
    installExitHook();
  }
  return rt.session;
}

/**
 * What crashed processes left beyond their sessions and cgroups (swept with the session):
 * networks whose owners are all gone (bridge, nft tables, leases) and the default layer
 * store's temporary directories. Once per state root per process, before its first sandbox.
 */
export function sweepLeftovers(stateDir = defaultStateDir()): Promise<void> {
  sessionFor(stateDir);
  const rt = runtimes.get(stateDir)!;
  rt.swept ??= (async () => {
    const networks = join(stateDir, 'networks');
    if (existsSync(networks) && readdirSync(networks).length > 0) {
      // Imported here: network.ts itself depends on this module.
      const { sweepStaleNetworks } = await import('../network/network.js');
      debug('swept %d stale networks', await sweepStaleNetworks(stateDir));
    }
    const store = defaultStoreDir();
    if (existsSync(join(store, 'tmp'))) {
      const { LayerStore } = await import('../images/layer-store.js');
      debug('swept %d stale store temp dirs', await new LayerStore(store).firstSweep());
    }
  })().catch((err: unknown) => debug('sweeping leftovers failed: %o', err));
  return rt.swept;
}

/** The host image's layer for a state root, built once per session. */
export function hostLayerFor(stateDir = defaultStateDir()): HostLayer {
  sessionFor(stateDir);
  const rt = runtimes.get(stateDir)!;
  rt.hostLayer ??= buildHostLayer(join(rt.session.dir, 'host-layer'));
  return rt.hostLayer;
}

/** This session's cgroup tree, or why there is none (opened on first use). */
export function cgroupsFor(stateDir = defaultStateDir()): CgroupAvailability {
  const session = sessionFor(stateDir);
  const rt = runtimes.get(stateDir)!;
  rt.cgroups ??= process.env.SANDKIT_NO_CGROUPS === '1'
    ? { ok: false, reason: 'disabled by SANDKIT_NO_CGROUPS=1' }
    : CgroupTree.open(session.id, isSessionAlive);
  return rt.cgroups;
}

/** The helper connection shared by every sandbox of this process. */
export function connection(): HelperConnection {
  installExitHook();
  return helperConnection();
}

// When Node exits normally, sandboxes must not outlive it: kill the helper (its inits die by
// PDEATHSIG) and remove this process's state. A crash is covered by the sweep on next start.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    helperConnection().killNow();
    for (const rt of runtimes.values()) {
      if (rt.cgroups?.ok) rt.cgroups.tree.session.removeSync();
      try {
        rt.session.removeSync();
      } catch {
        // best effort at exit; the next start sweeps what is left
      }
    }
  });
}

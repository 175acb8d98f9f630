import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { buildHostLayer, type HostLayer } from '../rootfs/host-layer.js';
import { isSessionAlive } from '../platform/session.js';
import { onProcessExit, sessionFor } from '../platform/sessions.js';
import { CgroupTree, type CgroupAvailability } from '../cgroup/cgroup-tree.js';
import { defaultStateDir, defaultStoreDir } from '../platform/state-dir.js';
import { sweepStaleNetworks } from '../network/network.js';
import { LayerStore } from '../images/layer-store.js';

const debug = debuglog('sandkit');

/** What sandboxes of one state root share in this process, built on first use. */
interface StateRootShared {
  hostLayer?: HostLayer;
  cgroups?: CgroupAvailability;
  swept?: Promise<void>;
}

const shared = new Map<string, StateRootShared>();

function sharedFor(stateDir: string): StateRootShared {
  sessionFor(stateDir);
  let s = shared.get(stateDir);
  if (!s) shared.set(stateDir, (s = {}));
  return s;
}

/**
 * What crashed processes left beyond their sessions and cgroups (swept with the session):
 * networks whose owners are all gone (bridge, nft tables, leases) and the default layer
 * store's temporary directories. Once per state root per process, before its first sandbox.
 */
export function sweepLeftovers(stateDir = defaultStateDir()): Promise<void> {
  const s = sharedFor(stateDir);
  s.swept ??= (async () => {
    const networks = join(stateDir, 'networks');
    if (existsSync(networks) && readdirSync(networks).length > 0)
      debug('swept %d stale networks', await sweepStaleNetworks(stateDir));
    const store = defaultStoreDir();
    if (existsSync(join(store, 'tmp')))
      debug('swept %d stale store temp dirs', await new LayerStore(store).firstSweep());
  })().catch((err: unknown) => debug('sweeping leftovers failed: %o', err));
  return s.swept;
}

/** The host image's layer for a state root, built once per session. */
export function hostLayerFor(stateDir = defaultStateDir()): HostLayer {
  const s = sharedFor(stateDir);
  s.hostLayer ??= buildHostLayer(join(sessionFor(stateDir).dir, 'host-layer'));
  return s.hostLayer;
}

/** This session's cgroup tree, or why there is none (opened on first use, removed at exit). */
export function cgroupsFor(stateDir = defaultStateDir()): CgroupAvailability {
  const s = sharedFor(stateDir);
  if (!s.cgroups) {
    const cgroups: CgroupAvailability =
      process.env.SANDKIT_NO_CGROUPS === '1'
        ? { ok: false, reason: 'disabled by SANDKIT_NO_CGROUPS=1' }
        : CgroupTree.open(sessionFor(stateDir).id, isSessionAlive);
    if (cgroups.ok) onProcessExit(() => cgroups.tree.session.removeSync());
    s.cgroups = cgroups;
  }
  return s.cgroups;
}

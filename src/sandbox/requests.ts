import type { CreateConfig, SpawnRequest } from '../helper/messages.js';
import type { Cgroup } from '../cgroup/cgroup.js';
import { rlimitsFor } from '../limits/rlimits.js';
import type { ResolvedSpawnOptions } from '../process/spawn-options.js';
import type { ResolvedUser } from '../process/user.js';
import { baseLayerFor, emptyLayerFor } from '../rootfs/base-layer.js';
import type { HostLayer } from '../rootfs/host-layer.js';
import { Overlay, readOnlyOverlayOptions } from '../rootfs/overlay.js';
import { resolveSecurity, securityRequest } from '../security/security-options.js';
import { etcFiles } from './etc-files.js';
import type { ResolvedSandboxOptions } from './options.js';

const DEFAULT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', TERM: 'xterm' };

/** Inside uid/gid 0 maps to us; as root, the first 65536 ids map to themselves. */
function idMap(hostId: number): Array<[number, number, number]> {
  return hostId === 0 ? [[0, 0, 65536]] : [[0, hostId, 1]];
}

/**
 * The helper's `create` request for a sandbox (docs/protocol.md), and the overlay directories it
 * lays out under `sandboxDir`: shared base layer, the image's layers, a private writable layer.
 */
export function createConfigFor(opts: ResolvedSandboxOptions, sessionDir: string, sandboxDir: string, hostLayer: () => HostLayer): { config: CreateConfig; overlay: Overlay } {
  const layers = opts.image.layers({ hostLayer });
  const base = baseLayerFor(sessionDir, etcFiles(opts.hostname, opts.network));
  const overlay = Overlay.inDirectory([base, ...layers.lowerDirs], sandboxDir, opts.limits.disk);
  const userns = opts.namespaces.user;
  const tmpfsUpper = overlay.tmpfsUpper();
  const empty = layers.systemDirs.length > 0 ? emptyLayerFor(sessionDir) : '';
  const config: CreateConfig = {
    namespaces: opts.namespaces.toJSON(),
    uidMap: userns ? idMap(process.getuid!()) : [],
    gidMap: userns ? idMap(process.getgid!()) : [],
    hostname: opts.hostname,
    rootfs: { merged: overlay.dirs.merged, overlayOptions: overlay.mountOptions(userns), ...(tmpfsUpper && { tmpfsUpper }) },
    // The host's /usr and friends as read-only overlays rather than binds: each sandbox gets
    // its own inodes, so a file lock taken in one sandbox cannot be seen from another.
    roOverlays: layers.systemDirs.map((dir) => ({ target: dir, options: readOnlyOverlayOptions(dir, empty, userns) })),
    binds: [...opts.mounts],
    tmpfs: [{ target: '/tmp', options: 'mode=1777' }, { target: '/run', options: 'mode=755' }],
    proc: true,
    dev: true,
  };
  return { config, overlay };
}

/** The helper's `spawn` request: environment, identity, stdio, cgroup, rlimits and hardening. */
export function spawnRequestFor(sandbox: string, id: string, o: ResolvedSpawnOptions, opts: ResolvedSandboxOptions, user: ResolvedUser, cgroup: Cgroup | undefined): SpawnRequest {
  const env = { ...DEFAULT_ENV, ...opts.image.config.env, ...opts.env, ...o.env };
  return {
    sandbox,
    process: id,
    argv: o.argv,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd: o.cwd ?? opts.cwd,
    uid: user.uid,
    gid: user.gid,
    groups: user.groups,
    stdio: [o.stdin === 'ignore' ? 'null' : 'pipe', o.stdout === 'ignore' ? 'null' : 'pipe', o.stderr === 'ignore' ? 'null' : 'pipe'],
    cgroup: cgroup?.v2Path ?? null,
    cgroupProcs: cgroup?.v1ProcsFiles() ?? [],
    cgroupns: opts.namespaces.cgroup,
    rlimits: rlimitsFor(o.limits, opts.limits, opts.limitFallback === 'rlimit' && !cgroup),
    ...securityRequest(resolveSecurity(o.security, 'security', opts.security)),
  };
}


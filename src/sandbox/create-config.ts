import type { CreateConfig } from '../helper/protocol.js';
import { baseLayerFor, emptyLayerFor } from '../rootfs/base-layer.js';
import type { HostLayer } from '../rootfs/host-layer.js';
import { Overlay, readOnlyOverlayOptions } from '../rootfs/overlay.js';
import { writableLayerPlacement } from '../platform/state-dir.js';
import { etcFiles } from './etc-files.js';
import type { ResolvedSandboxOptions } from './options.js';
import { timeNamespaceSupported } from '../namespaces/time.js';

/** Inside uid/gid 0 maps to us; as root, the first 65536 ids map to themselves. */
function idMap(hostId: number): Array<[number, number, number]> {
  return hostId === 0 ? [[0, 0, 65536]] : [[0, hostId, 1]];
}

/**
 * The helper's `create` request for a sandbox (docs/protocol.md), and the overlay directories it
 * lays out under `sandboxDir`: shared base layer, the image's layers, a private writable layer.
 */
export function createConfigFor(
  opts: ResolvedSandboxOptions,
  sessionDir: string,
  sandboxDir: string,
  hostLayer: () => HostLayer
): { config: CreateConfig; overlay: Overlay } {
  const layers = opts.image.layers({ hostLayer });
  const base = baseLayerFor(sessionDir, etcFiles(opts.hostname, opts.network, opts.image.accountFiles));
  const upperOnTmpfs = writableLayerPlacement(sessionDir).on === 'tmpfs';
  const overlay = Overlay.inDirectory([base, ...layers.lowerDirs], sandboxDir, opts.limits.disk, upperOnTmpfs);
  const userns = opts.namespaces.user;
  const tmpfsUpper = overlay.tmpfsUpper();
  const empty = layers.systemDirs.length > 0 ? emptyLayerFor(sessionDir) : '';
  const config: CreateConfig = {
    namespaces: opts.namespaces.toJSON(),
    uidMap: userns ? idMap(process.getuid!()) : [],
    gidMap: userns ? idMap(process.getgid!()) : [],
    hostname: opts.hostname,
    rootfs: {
      merged: overlay.dirs.merged,
      overlayOptions: overlay.mountOptions(userns),
      ...(tmpfsUpper && { tmpfsUpper }),
    },
    // The host's /usr and friends as read-only overlays rather than binds: each sandbox gets
    // its own inodes, so a file lock taken in one sandbox cannot be seen from another.
    roOverlays: layers.systemDirs.map((dir) => ({ target: dir, options: readOnlyOverlayOptions(dir, empty, userns) })),
    binds: [...opts.mounts],
    tmpfs: tmpfsMounts(tmpfsUpper !== undefined),
    proc: true,
    dev: true,
    ...(opts.procView === 'sandbox' && timeNamespaceSupported() && { timens: true }),
  };
  return { config, overlay };
}

/**
 * /tmp, /run and /dev/shm. With a disk limit they are directories of the tmpfs that holds the
 * writable layer, so one size bounds every write; without, tmpfs mounts of the kernel's
 * default size (half the RAM each), and /dev/shm is the one the minimal /dev brings.
 */
function tmpfsMounts(inQuota: boolean): CreateConfig['tmpfs'] {
  if (!inQuota)
    return [
      { target: '/tmp', options: 'mode=1777' },
      { target: '/run', options: 'mode=755' },
    ];
  return [
    { target: '/tmp', options: 'mode=1777', quotaDir: 'tmp' },
    { target: '/run', options: 'mode=755', quotaDir: 'run' },
    { target: '/dev/shm', options: 'mode=1777', quotaDir: 'shm' },
  ];
}

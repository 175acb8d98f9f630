import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CreateConfig, SpawnRequest, StdioRequest } from '../helper/messages.js';
import type { Readable } from 'node:stream';
import { SandboxPipeEnd } from '../process/sandbox-pipe.js';
import type { StdinFile } from '../process/spawn-options.js';
import { sessionFor } from '../platform/runtime.js';
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
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { formatBytes } from '../limits/limits.js';

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
  const base = baseLayerFor(sessionDir, etcFiles(opts.hostname, opts.network, opts.image.accountFiles));
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
    tmpfs: tmpfsMounts(tmpfsUpper !== undefined),
    proc: true,
    dev: true,
  };
  return { config, overlay };
}

/**
 * /tmp, /run and /dev/shm. With a disk limit they are directories of the tmpfs that holds the
 * writable layer, so one size bounds every write; without, tmpfs mounts of the kernel's
 * default size (half the RAM each), and /dev/shm is the one the minimal /dev brings.
 */
function tmpfsMounts(inQuota: boolean): CreateConfig['tmpfs'] {
  if (!inQuota) return [{ target: '/tmp', options: 'mode=1777' }, { target: '/run', options: 'mode=755' }];
  return [
    { target: '/tmp', options: 'mode=1777', quotaDir: 'tmp' },
    { target: '/run', options: 'mode=755', quotaDir: 'run' },
    { target: '/dev/shm', options: 'mode=1777', quotaDir: 'shm' },
  ];
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
    stdio: stdioRequest(o, opts.stateDir),
    ...(fileOutputLimit(o) !== undefined && { outputLimit: fileOutputLimit(o) }),
    cgroup: cgroup?.v2Path ?? null,
    cgroupProcs: cgroup?.v1ProcsFiles() ?? [],
    cgroupns: opts.namespaces.cgroup,
    ...(cgroup?.memoryDir() ? { memoryCgroup: cgroup.memoryDir() } : {}),
    rlimits: rlimitsFor(o.limits, opts.limits, opts.limitFallback === 'rlimit' && !cgroup),
    ...securityRequest(resolveSecurity(o.security, 'security', opts.security)),
  };
}

/**
 * What one spawn request may carry to the sandbox's init (argv, env, cwd, groups, rlimits, the
 * seccomp filter and mask paths): native/src/ctl.h CTL_PAYLOAD_MAX, sized for the kernel's
 * ARG_MAX of 2 MiB plus the rest. A larger exec would fail with E2BIG anyway.
 */
export const SPAWN_PAYLOAD_MAX = 2 * 1024 * 1024 + 256 * 1024;

/** The bytes a spawn request takes in the init's message, as native/src/spawn.c counts them. */
export function spawnPayloadBytes(req: SpawnRequest): number {
  const strings = (list: readonly string[]) => list.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  const seccomp = req.security?.seccomp ? Buffer.byteLength(req.security.seccomp, 'base64') : 0;
  return req.rlimits.length * 24 + seccomp + req.groups.length * 4 + strings([req.cwd]) + strings(req.argv) + strings(req.env) +
    strings(req.masks?.maskedPaths ?? []) + strings(req.masks?.readonlyPaths ?? []) +
    strings(req.stdio.flatMap((e) => (typeof e === 'object' && 'path' in e ? [e.path] : []))); // files as stdio
}

/** Throws the typed error for a request the init could not take, before it is sent. */
export function checkSpawnPayload(req: SpawnRequest): void {
  const bytes = spawnPayloadBytes(req);
  if (bytes > SPAWN_PAYLOAD_MAX) {
    throw new SandboxOptionsError('command', `argv, env and cwd take ${bytes} bytes (${formatBytes(Math.ceil(bytes / 1024) * 1024)}); one spawn carries at most ${formatBytes(SPAWN_PAYLOAD_MAX)} with the seccomp filter and mask paths`);
  }
}

/**
 * The helper's stdio entries. `{ data, asFile: true }` is written to a private file of this
 * session (mode 0600) that the helper copies into a sealed memfd; the caller removes it once
 * the spawn is answered (`stdinFileOf`).
 */
function stdioRequest(o: ResolvedSpawnOptions, stateDir: string | undefined): StdioRequest[] {
  let stdin: StdioRequest;
  const i = o.stdin;
  if (i === 'ignore') stdin = 'null';
  else if (i instanceof SandboxPipeEnd) stdin = { pipe: i.pipe.id };
  else if (typeof i !== 'object' || i instanceof Uint8Array || typeof (i as Readable).pipe === 'function') stdin = 'pipe';
  else if ('asFile' in i) {
    const file = join(sessionFor(stateDir).dir, `stdin-${randomBytes(8).toString('hex')}`);
    writeFileSync(file, i.data, { mode: 0o600, flag: 'wx' });
    stdin = { memfd: file };
  } else stdin = { path: (i as StdinFile).path };
  const output = (v: ResolvedSpawnOptions['stdout'], limit: number | undefined): StdioRequest => {
    if (v === 'ignore') return 'null';
    if (v === 'pipe') return 'pipe';
    if (v instanceof SandboxPipeEnd) return { pipe: v.pipe.id };
    return { path: v.path, ...(v.append && { append: true }), ...(limit !== undefined && { limit }) };
  };
  return [stdin, output(o.stdout, streamLimit(o, 'stdout')), output(o.stderr, streamLimit(o, 'stderr'))];
}

/** The bytes one output stream may reach: its own limit and the total, whichever is lower. */
export function streamLimit(o: ResolvedSpawnOptions, stream: 'stdout' | 'stderr'): number | undefined {
  const own = o.limits[stream], total = o.limits.output;
  if (own === undefined) return total;
  return total === undefined ? own : Math.min(own, total);
}

/** With both outputs in files, the helper checks their sum against `limits.output` too. */
function fileOutputLimit(o: ResolvedSpawnOptions): number | undefined {
  const isFile = (v: ResolvedSpawnOptions['stdout']) => typeof v === 'object' && !(v instanceof SandboxPipeEnd);
  return isFile(o.stdout) && isFile(o.stderr) ? o.limits.output : undefined;
}

/** The host file holding `{ data, asFile: true }` for a request, to remove once it is answered. */
export function stdinFileOf(request: SpawnRequest): string | undefined {
  const s = request.stdio[0];
  return typeof s === 'object' && 'memfd' in s ? s.memfd : undefined;
}

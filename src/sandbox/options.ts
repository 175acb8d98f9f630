import { isAbsolute } from 'node:path';
import { existsSync } from 'node:fs';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { Image } from '../images/image.js';
import { assertOverlayPath } from '../rootfs/overlay.js';
import { resolveEnv, resolveInsidePath } from '../process/spawn-options.js';
import { Namespaces, type NamespacesOptions } from '../namespaces/namespaces.js';
import { checkCpuset } from '../cgroup/cpuset.js';
import { resolveSandboxLimitsWithDefaults, type ResolvedSandboxLimits, type SandboxLimits } from '../limits/limits.js';
import { checkStateDir } from '../platform/state-dir.js';
import {
  resolveNetworkAttach,
  type NetworkAttachOptions,
  type ResolvedNetworkAttach,
  type UserNetworkOptions,
} from '../network/network-link.js';
import { resolveSecurity, type ResolvedSecurityOptions, type SecurityOptions } from '../security/security-options.js';
import type { ByteSize, Duration } from '../limits/units.js';
import { resolveControlOptions, type ResolvedControlOptions } from './control-options.js';

/** A host path made visible inside the sandbox. */
export interface MountOptions {
  /** Absolute host path (file or directory). */
  source: string;
  /** Absolute path inside the sandbox. */
  target: string;
  /** Mount read-only. @defaultValue true */
  readonly?: boolean;
}

/**
 * Network mode. `'none'`: own network namespace with loopback only. `'host'`: the host's
 * network (unsafe: the sandbox can reach and bind everything the host can). For a network
 * shared by sandboxes, pass `{ attach: network, ... }` instead (see {@link NetworkAttachOptions});
 * to reach out without root, `{ mode: 'user', egress }` (see {@link UserNetworkOptions}).
 */
export type NetworkMode = 'none' | 'host';

/** Options of {@link Sandbox}. Every field is optional. */
export interface SandboxOptions {
  /** The read-only base of the root filesystem. @defaultValue Image.host() */
  image?: Image;
  /** @defaultValue 'none' */
  network?: NetworkMode | NetworkAttachOptions | UserNetworkOptions;
  /** Hostname inside. @defaultValue `network.hostname` when attached with one, else 'sandbox' */
  hostname?: string;
  /** Which namespaces to create; a `Namespaces` value or its options. */
  namespaces?: Namespaces | NamespacesOptions;
  /** Extra host paths to bind in. */
  mounts?: MountOptions[];
  /** Environment variables every spawn gets (over PATH, HOME and TERM defaults). */
  env?: Record<string, string>;
  /** Default working directory of spawns. @defaultValue the image config's WorkingDir, else '/' */
  cwd?: string;
  /**
   * Where writable layers live: an absolute path on a real, writable filesystem (not procfs or
   * sysfs); made if missing. @defaultValue see `defaultStateDir()`
   */
  stateDir?: string;
  /**
   * Limits on the whole sandbox (all its processes together). Without this option a sandbox
   * gets `{ memory: '2G', pids: 4096, disk: '1G' }` (disk: the writable layer, /tmp, /run and
   * /dev/shm together); a limit given replaces its default, `'unlimited'` drops them all.
   * @defaultValue `{ memory: '2G', pids: 4096, disk: '1G' }`
   */
  limits?: SandboxLimits | 'unlimited';
  /**
   * Where a limit cannot be enforced with cgroups (rootless without delegation): `'error'` rejects
   * the start with `SandboxUnsupportedError`; `'rlimit'` falls back to per-process rlimits
   * (RLIMIT_AS for memory, RLIMIT_CPU for CPU time), which are weaker. @defaultValue 'error'
   */
  limitFallback?: 'error' | 'rlimit';
  /**
   * What programs read in /proc. `'sandbox'`: /proc/meminfo, cpuinfo, stat, swaps and loadavg
   * that match the limits (MemTotal is the memory limit, only the sandbox's CPUs are listed),
   * and a time namespace so /proc/uptime counts from the sandbox's start. `'host'`: the
   * host's values. See docs/limits.md for which values are live. @defaultValue 'sandbox'
   */
  procView?: 'sandbox' | 'host';
  /**
   * Hardening of every program the sandbox runs: seccomp, capabilities, no_new_privs, masked
   * and read-only /proc paths. On by default; see {@link SecurityOptions}.
   * @defaultValue `{ seccomp: Seccomp.default(), capabilities: [], noNewPrivs: true }` and Docker's masked/read-only paths
   */
  security?: SecurityOptions;
  /**
   * A name unique among the live sandboxes of the state directory (across processes), for
   * `Sandbox.connect(name)` and `sandkit exec NAME`: 1-63 letters, digits, `_`, `.`, `-`.
   * A name in use rejects the constructor with `SandboxNameInUseError`.
   */
  name?: string;
  /** Tags that `Sandbox.list({ labels })` and `sandkit ps` show and filter on (at most 64; values up to 1024 characters). */
  labels?: Record<string, string>;
  /**
   * Keep the last output of the sandbox's programs (stdout and stderr, in order) for
   * `sandbox.logs()` and `sandkit logs`: `true` keeps 1 MiB, a size up to 64M keeps that much.
   * @defaultValue false
   */
  keepLogs?: boolean | ByteSize;
  /** Emit a `stats` event with {@link ResourceStats} this often while the sandbox runs (at least 100ms). */
  statsInterval?: Duration;
  /**
   * Destroy the sandbox this long after it was made (`'5m'`, 300000), emitting `timeout` first;
   * `sandbox.setTimeout()` moves it. @defaultValue no timeout
   */
  timeout?: Duration;
}

/** Validated sandbox options with every default applied. */
export interface ResolvedSandboxOptions {
  /** The root filesystem's image. */
  image: Image;
  /** No network, the host's, or an attachment to a {@link Network}. */
  network: NetworkMode | ResolvedNetworkAttach;
  /** The sandbox's hostname. */
  hostname: string;
  /** Which namespaces the sandbox gets. */
  namespaces: Namespaces;
  /** Bind mounts, each with `readonly` decided. */
  mounts: Required<MountOptions>[];
  /** The environment every program starts with (the image's, then `env`). */
  env: Record<string, string>;
  /** Where programs start inside the sandbox. */
  cwd: string;
  /** Where state is kept; `undefined`: the default state directory. */
  stateDir: string | undefined;
  /** Sandbox-wide limits, defaults included. */
  limits: ResolvedSandboxLimits;
  /** What happens to a limit the host has no cgroup controller for. */
  limitFallback: 'error' | 'rlimit';
  /** Whose /proc values programs read: the sandbox's limits or the host's. */
  procView: 'sandbox' | 'host';
  /** Security settings with every default applied. */
  security: ResolvedSecurityOptions;
  /** Name, labels, kept logs, stats period and timeout. */
  control: ResolvedControlOptions;
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const KNOWN_SANDBOX_KEYS = new Set([
  'image',
  'network',
  'hostname',
  'namespaces',
  'mounts',
  'env',
  'cwd',
  'stateDir',
  'limits',
  'limitFallback',
  'procView',
  'security',
  'name',
  'labels',
  'keepLogs',
  'statsInterval',
  'timeout',
]);

/** Checks every field and fills defaults; throws `SandboxOptionsError` naming the first bad field. */
export function resolveSandboxOptions(options: SandboxOptions = {}): ResolvedSandboxOptions {
  if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_SANDBOX_KEYS.has(key)) throw new SandboxOptionsError(key, 'unknown option');
  }
  const image = options.image ?? Image.host();
  if (!(image instanceof Image))
    throw new SandboxOptionsError('image', 'expected an Image (Image.host(), Image.fromDirectory(path))');
  const network = resolveNetwork(options.network);
  const hostname = options.hostname ?? (typeof network === 'object' ? network.hostname : undefined) ?? 'sandbox';
  if (typeof hostname !== 'string' || !HOSTNAME.test(hostname))
    throw new SandboxOptionsError('hostname', `expected a DNS label, got ${JSON.stringify(hostname)}`);
  const namespaces = resolveNamespaces(options.namespaces, network);
  const stateDir = options.stateDir;
  if (stateDir !== undefined) {
    if (typeof stateDir !== 'string' || !isAbsolute(stateDir))
      throw new SandboxOptionsError('stateDir', `expected an absolute path, got ${JSON.stringify(stateDir)}`);
    assertOverlayPath('stateDir', stateDir);
  }
  const mounts = options.mounts ?? [];
  if (!Array.isArray(mounts))
    throw new SandboxOptionsError(
      'mounts',
      `expected an array of { source, target, readonly? }, got ${describe(mounts)}`
    );
  const limitFallback = options.limitFallback ?? 'error';
  if (limitFallback !== 'error' && limitFallback !== 'rlimit')
    throw new SandboxOptionsError('limitFallback', "expected 'error' or 'rlimit'");
  const procView = options.procView ?? 'sandbox';
  if (procView !== 'sandbox' && procView !== 'host')
    throw new SandboxOptionsError('procView', `expected 'sandbox' or 'host', got ${JSON.stringify(procView)}`);
  const resolved: ResolvedSandboxOptions = {
    image,
    network,
    hostname,
    namespaces,
    stateDir,
    limitFallback,
    procView,
    limits: resolveSandboxLimitsWithDefaults(options.limits, 'limits'),
    mounts: mounts.map((m, i) => resolveMount(m, `mounts[${i}]`)),
    env: resolveEnv(options.env, 'env'),
    cwd: resolveInsidePath(options.cwd ?? image.config.workingDir ?? '/', 'cwd'),
    security: resolveSecurity(options.security, 'security'),
    control: resolveControlOptions(options),
  };
  if (resolved.limits.cpuset) checkCpuset(resolved.limits.cpuset, 'limits.cpuset');
  // Last: it makes the directory, which a later bad option must not leave behind.
  if (stateDir !== undefined) checkStateDir(stateDir, 'stateDir');
  return resolved;
}

function resolveNetwork(value: SandboxOptions['network']): NetworkMode | ResolvedNetworkAttach {
  const network = value ?? 'none';
  if (typeof network === 'object' && network !== null) return resolveNetworkAttach(network, 'network');
  if (network !== 'none' && network !== 'host')
    throw new SandboxOptionsError(
      'network',
      `expected 'none', 'host', { attach: network } or { mode: 'user' }, got ${JSON.stringify(network)}`
    );
  return network;
}

function resolveNamespaces(
  value: SandboxOptions['namespaces'],
  network: NetworkMode | ResolvedNetworkAttach
): Namespaces {
  if (value !== undefined && (typeof value !== 'object' || value === null))
    throw new SandboxOptionsError('namespaces', 'expected a Namespaces value or an object');
  const ns = value instanceof Namespaces ? value : new Namespaces(value ?? {});
  if (network === 'host') return ns.with({ net: false });
  if (!ns.net)
    throw new SandboxOptionsError(
      'namespaces.net',
      "network 'none' or attached needs a network namespace; use network: 'host' to share the host's"
    );
  if (!ns.user && process.getuid?.() !== 0)
    throw new SandboxOptionsError('namespaces.user', 'a user namespace is required when not running as root');
  return ns;
}

function resolveMount(m: MountOptions, field: string): Required<MountOptions> {
  if (typeof m !== 'object' || m === null)
    throw new SandboxOptionsError(field, 'expected { source, target, readonly? }');
  if (typeof m.source !== 'string' || !isAbsolute(m.source) || m.source.includes('\0'))
    throw new SandboxOptionsError(`${field}.source`, 'expected an absolute host path');
  if (!existsSync(m.source)) throw new SandboxOptionsError(`${field}.source`, `${m.source} does not exist`);
  const readonly = m.readonly ?? true;
  if (typeof readonly !== 'boolean') throw new SandboxOptionsError(`${field}.readonly`, 'expected a boolean');
  return { source: m.source, target: resolveInsidePath(m.target, `${field}.target`), readonly };
}

/** A short description of a wrong value for messages: its JSON, or its type. */
export function describe(value: unknown): string {
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return `a ${typeof value}`;
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return `a ${typeof value}`;
  }
}

import { isAbsolute } from 'node:path';
import { existsSync } from 'node:fs';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { Image, assertOverlayPath } from '../rootfs/image.js';
import { Namespaces, type NamespacesOptions } from '../namespaces/namespaces.js';
import { resolveSandboxLimits, type ResolvedSandboxLimits, type SandboxLimits } from '../limits/limits.js';

/** A host path made visible inside the sandbox. */
export interface MountOptions {
  /** Absolute host path (file or directory). */
  source: string;
  /** Absolute path inside the sandbox. */
  target: string;
  /** Mount read-only. @defaultValue true */
  readonly?: boolean;
}

/** Network mode. `'none'`: own network namespace with loopback only. `'host'`: the host's network (unsafe). */
export type NetworkMode = 'none' | 'host';

/** Options of {@link Sandbox}. Every field is optional. */
export interface SandboxOptions {
  /** The read-only base of the root filesystem. @defaultValue Image.host() */
  image?: Image;
  /** @defaultValue 'none' */
  network?: NetworkMode;
  /** Hostname inside. @defaultValue 'sandbox' */
  hostname?: string;
  /** Which namespaces to create; a `Namespaces` value or its options. */
  namespaces?: Namespaces | NamespacesOptions;
  /** Extra host paths to bind in. */
  mounts?: MountOptions[];
  /** Environment variables every spawn gets (over PATH, HOME and TERM defaults). */
  env?: Record<string, string>;
  /** Default working directory of spawns. @defaultValue '/' */
  cwd?: string;
  /** Where writable layers live. @defaultValue see `defaultStateDir()` */
  stateDir?: string;
  /** Limits on the whole sandbox (all its processes together); needs cgroups. */
  limits?: SandboxLimits;
  /**
   * Where a limit cannot be enforced with cgroups (rootless without delegation): `'error'` rejects
   * the start with `SandboxUnsupportedError`; `'rlimit'` falls back to per-process rlimits
   * (RLIMIT_AS for memory, RLIMIT_CPU for CPU time), which are weaker. @defaultValue 'error'
   */
  limitFallback?: 'error' | 'rlimit';
}

/** Validated sandbox options with every default applied. */
export interface ResolvedSandboxOptions {
  image: Image;
  network: NetworkMode;
  hostname: string;
  namespaces: Namespaces;
  mounts: Required<MountOptions>[];
  env: Record<string, string>;
  cwd: string;
  stateDir: string | undefined;
  limits: ResolvedSandboxLimits;
  limitFallback: 'error' | 'rlimit';
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const KNOWN_SANDBOX_KEYS = new Set(['image', 'network', 'hostname', 'namespaces', 'mounts', 'env', 'cwd', 'stateDir', 'limits', 'limitFallback']);

/** Checks every field and fills defaults; throws `SandboxOptionsError` naming the first bad field. */
export function resolveSandboxOptions(options: SandboxOptions = {}): ResolvedSandboxOptions {
  if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_SANDBOX_KEYS.has(key)) throw new SandboxOptionsError(key, 'unknown option');
  }
  const image = options.image ?? Image.host();
  if (!(image instanceof Image)) throw new SandboxOptionsError('image', 'expected an Image (Image.host(), Image.fromDirectory(path))');
  const network = options.network ?? 'none';
  if (network !== 'none' && network !== 'host') throw new SandboxOptionsError('network', `expected 'none' or 'host', got ${JSON.stringify(network)}`);
  const hostname = options.hostname ?? 'sandbox';
  if (typeof hostname !== 'string' || !HOSTNAME.test(hostname)) throw new SandboxOptionsError('hostname', `expected a DNS label, got ${JSON.stringify(hostname)}`);
  const namespaces = resolveNamespaces(options.namespaces, network);
  const stateDir = options.stateDir;
  if (stateDir !== undefined) {
    if (typeof stateDir !== 'string' || !isAbsolute(stateDir)) throw new SandboxOptionsError('stateDir', 'expected an absolute path');
    assertOverlayPath('stateDir', stateDir);
  }
  const limitFallback = options.limitFallback ?? 'error';
  if (limitFallback !== 'error' && limitFallback !== 'rlimit') throw new SandboxOptionsError('limitFallback', "expected 'error' or 'rlimit'");
  return {
    image, network, hostname, namespaces, stateDir, limitFallback,
    limits: resolveSandboxLimits(options.limits, 'limits'),
    mounts: (options.mounts ?? []).map((m, i) => resolveMount(m, `mounts[${i}]`)),
    env: resolveEnv(options.env, 'env'),
    cwd: resolveInsidePath(options.cwd ?? '/', 'cwd'),
  };
}

function resolveNamespaces(value: SandboxOptions['namespaces'], network: NetworkMode): Namespaces {
  if (value !== undefined && (typeof value !== 'object' || value === null)) throw new SandboxOptionsError('namespaces', 'expected a Namespaces value or an object');
  const ns = value instanceof Namespaces ? value : new Namespaces(value ?? {});
  for (const [key, on] of Object.entries(ns.toJSON())) {
    if (typeof on !== 'boolean') throw new SandboxOptionsError(`namespaces.${key}`, 'expected a boolean');
  }
  if (network === 'host') return ns.with({ net: false });
  if (!ns.net) throw new SandboxOptionsError('namespaces.net', "network 'none' needs a network namespace; use network: 'host' to share the host's");
  if (!ns.user && process.getuid?.() !== 0) throw new SandboxOptionsError('namespaces.user', 'a user namespace is required when not running as root');
  return ns;
}

function resolveMount(m: MountOptions, field: string): Required<MountOptions> {
  if (typeof m !== 'object' || m === null) throw new SandboxOptionsError(field, 'expected { source, target, readonly? }');
  if (typeof m.source !== 'string' || !isAbsolute(m.source)) throw new SandboxOptionsError(`${field}.source`, 'expected an absolute host path');
  if (!existsSync(m.source)) throw new SandboxOptionsError(`${field}.source`, `${m.source} does not exist`);
  const readonly = m.readonly ?? true;
  if (typeof readonly !== 'boolean') throw new SandboxOptionsError(`${field}.readonly`, 'expected a boolean');
  return { source: m.source, target: resolveInsidePath(m.target, `${field}.target`), readonly };
}

/** Validates an absolute path inside the sandbox. */
export function resolveInsidePath(value: unknown, field: string): string {
  if (typeof value !== 'string' || !value.startsWith('/')) throw new SandboxOptionsError(field, `expected an absolute path inside the sandbox, got ${JSON.stringify(value)}`);
  if (value.includes('\0')) throw new SandboxOptionsError(field, 'contains a NUL byte');
  return value;
}

/** Validates an environment map: string keys without '=' or NUL, string values without NUL. */
export function resolveEnv(env: unknown, field: string): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw new SandboxOptionsError(field, 'expected an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k || k.includes('=') || k.includes('\0')) throw new SandboxOptionsError(`${field}.${k}`, 'invalid variable name');
    if (typeof v !== 'string' || v.includes('\0')) throw new SandboxOptionsError(`${field}.${k}`, 'expected a string without NUL bytes');
    out[k] = v;
  }
  return out;
}

import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { resolveCapabilities, type CapabilityName } from './capabilities.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, resolveMaskPaths } from './masks.js';
import { Seccomp } from './seccomp.js';
import { hostArch } from './seccomp-bpf.js';

/**
 * Hardening of the programs a sandbox runs. Every field has a safe default, so `{}` (or no
 * `security` at all) is the hardened sandbox; fields opt out one by one. Given on the sandbox,
 * it applies to every spawn; given on a spawn, its fields override the sandbox's.
 *
 * @example
 * const sandbox = new Sandbox({ security: { seccomp: Seccomp.default().onViolation('kill') } });
 * await sandbox.run(['gdb', '--batch', './a.out'], { security: { seccomp: Seccomp.default().allow('ptrace'), capabilities: ['CAP_SYS_PTRACE'] } });
 * await sandbox.run(['./server'], { user: 'nobody', security: { capabilities: ['CAP_NET_BIND_SERVICE'] } });
 * @throws {SandboxOptionsError} naming the field (`security.capabilities[0]`), from the Sandbox constructor or spawn().
 */
export interface SecurityOptions {
  /**
   * The seccomp policy: a {@link Seccomp} value, `'default'` (`Seccomp.default()`), or
   * `'unconfined'` (no filter).
   * @defaultValue Seccomp.default()
   */
  seccomp?: Seccomp | 'default' | 'unconfined';
  /**
   * Capabilities the program keeps (`['CAP_NET_BIND_SERVICE']`); every other one is dropped
   * from all five sets. Capabilities count inside the sandbox's user namespace only.
   * @defaultValue []
   */
  capabilities?: CapabilityName[];
  /**
   * `PR_SET_NO_NEW_PRIVS`: setuid binaries and file capabilities never grant anything. Turning it
   * off needs `seccomp: 'unconfined'` or keeping `CAP_SYS_ADMIN` (the kernel's rule for loading a filter).
   * @defaultValue true
   */
  noNewPrivs?: boolean;
  /** Paths hidden from the program (files: /dev/null over them; directories: an empty tmpfs). @defaultValue Docker's list and more host-wide kernel state, {@link DEFAULT_MASKED_PATHS} */
  maskedPaths?: string[];
  /** Paths made read-only. @defaultValue Docker's list, {@link DEFAULT_READONLY_PATHS} */
  readonlyPaths?: string[];
}

/** Security options with every default applied. */
export interface ResolvedSecurityOptions {
  /** The seccomp filter, or `null` for none (`'unconfined'`). */
  seccomp: Seccomp | null;
  /** Capabilities programs keep; every other one is dropped. */
  capabilities: CapabilityName[];
  /** Whether `PR_SET_NO_NEW_PRIVS` is set before exec. */
  noNewPrivs: boolean;
  /** Paths hidden from programs. */
  maskedPaths: string[];
  /** Paths made read-only. */
  readonlyPaths: string[];
}

const KEYS = new Set(['seccomp', 'capabilities', 'noNewPrivs', 'maskedPaths', 'readonlyPaths']);

/** The hardened defaults. */
export function defaultSecurity(): ResolvedSecurityOptions {
  return {
    seccomp: Seccomp.default(),
    capabilities: [],
    noNewPrivs: true,
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
  };
}

/** Validates `security` and lays it over `base` (the sandbox's, for a spawn). */
export function resolveSecurity(
  value: unknown,
  field: string,
  base: ResolvedSecurityOptions = defaultSecurity()
): ResolvedSecurityOptions {
  if (value === undefined) return base;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SandboxOptionsError(field, 'expected an object');
  for (const key of Object.keys(value))
    if (!KEYS.has(key)) throw new SandboxOptionsError(`${field}.${key}`, 'unknown security option');
  const v = value as SecurityOptions;
  const out: ResolvedSecurityOptions = { ...base };
  if (v.seccomp !== undefined) out.seccomp = resolveSeccomp(v.seccomp, `${field}.seccomp`);
  if (v.capabilities !== undefined) out.capabilities = resolveCapabilities(v.capabilities, `${field}.capabilities`);
  if (v.noNewPrivs !== undefined) {
    if (typeof v.noNewPrivs !== 'boolean') throw new SandboxOptionsError(`${field}.noNewPrivs`, 'expected a boolean');
    out.noNewPrivs = v.noNewPrivs;
  }
  if (v.maskedPaths !== undefined) out.maskedPaths = resolveMaskPaths(v.maskedPaths, `${field}.maskedPaths`);
  if (v.readonlyPaths !== undefined) out.readonlyPaths = resolveMaskPaths(v.readonlyPaths, `${field}.readonlyPaths`);
  if (out.seccomp && !hostArch())
    throw new SandboxOptionsError(
      `${field}.seccomp`,
      `sandkit compiles seccomp filters for x64 and arm64 only, not ${process.arch}; use seccomp: 'unconfined'`
    );
  if (!out.noNewPrivs && out.seccomp && !out.capabilities.includes('CAP_SYS_ADMIN')) {
    throw new SandboxOptionsError(
      `${field}.noNewPrivs`,
      "loading a seccomp filter without no_new_privs needs CAP_SYS_ADMIN: keep it, or use seccomp: 'unconfined'"
    );
  }
  return out;
}

function resolveSeccomp(value: unknown, field: string): Seccomp | null {
  if (value === 'unconfined') return null;
  if (value === 'default') return Seccomp.default();
  if (value instanceof Seccomp) return value;
  throw new SandboxOptionsError(field, "expected a Seccomp value, 'default' or 'unconfined'");
}

/** The `security` and `masks` fields of a spawn request (docs/protocol.md). */
export function securityRequest(s: ResolvedSecurityOptions): { security: SpawnSecurity; masks: SpawnMasks } {
  return {
    security: {
      noNewPrivs: s.noNewPrivs,
      capabilities: s.capabilities,
      seccomp: s.seccomp ? compiled(s.seccomp, s.capabilities) : null,
    },
    masks: { maskedPaths: s.maskedPaths, readonlyPaths: s.readonlyPaths },
  };
}

const cache = new WeakMap<Seccomp, Map<string, string>>();

/** The base64 filter, compiled once per policy and set of kept capabilities. */
function compiled(policy: Seccomp, caps: CapabilityName[]): string {
  const key = [...caps].sort().join(',');
  let byCaps = cache.get(policy);
  if (!byCaps) cache.set(policy, (byCaps = new Map<string, string>()));
  let b64 = byCaps.get(key);
  if (b64 === undefined) byCaps.set(key, (b64 = policy.compile(undefined, caps).toString('base64')));
  return b64;
}

export interface SpawnSecurity {
  noNewPrivs: boolean;
  capabilities: string[];
  seccomp: string | null;
}
export interface SpawnMasks {
  maskedPaths: string[];
  readonlyPaths: string[];
}

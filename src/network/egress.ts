import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { parseCidr } from './subnet.js';

/** One destination a sandbox may open connections to. */
export interface EgressRule {
  /** IPv4 address or CIDR, e.g. `10.88.0.0/24` or `192.0.2.7`. */
  cidr: string;
  /** Only these destination ports (TCP and/or UDP). @defaultValue every port */
  ports?: number[];
  /** Only this protocol. @defaultValue both tcp and udp (and any protocol when no ports are given) */
  protocol?: 'tcp' | 'udp';
}

/**
 * Which connections a sandbox attached to a network may open (replies to connections made to
 * it are always allowed): `'deny'` none, `'allow'` any, or `{ allow: [...] }` to the listed
 * destinations only. Enforced in the kernel by nftables on the host.
 *
 * @example
 * { allow: ['10.88.0.0/24', { cidr: '192.0.2.0/24', ports: [443], protocol: 'tcp' }] }
 */
export type EgressPolicy =
  | 'deny'
  | 'allow'
  | {
      /** Destinations: a CIDR or address, or a rule with ports and protocol. */
      allow: Array<string | EgressRule>;
    };

/** A checked rule: `cidr` in canonical form. */
export interface ResolvedEgressRule {
  /** The destination network, canonical. */
  cidr: string;
  /** Destination ports; none: every port. */
  ports?: number[];
  /** The protocol the ports are of; none: both. */
  protocol?: 'tcp' | 'udp';
}

/** An egress policy with every rule checked and normalized. */
export type ResolvedEgress =
  | {
      /** No connection out. */
      kind: 'deny';
    }
  | {
      /** Any connection out. */
      kind: 'allow';
    }
  | {
      /** Only to the listed destinations. */
      kind: 'list';
      /** The destinations. */
      rules: ResolvedEgressRule[];
    };

/** Validates an egress policy (default `'deny'`). */
export function resolveEgress(value: unknown, field: string): ResolvedEgress {
  if (value === undefined || value === 'deny') return { kind: 'deny' };
  if (value === 'allow') return { kind: 'allow' };
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { allow?: unknown }).allow)) {
    throw new SandboxOptionsError(field, "expected 'deny', 'allow' or { allow: [cidr | { cidr, ports?, protocol? }] }");
  }
  const rules = (value as { allow: unknown[] }).allow.map((r, i) => resolveRule(r, `${field}.allow[${i}]`));
  return { kind: 'list', rules };
}

function resolveRule(rule: unknown, field: string): ResolvedEgressRule {
  if (typeof rule === 'string') return { cidr: parseCidr(rule, field).cidr };
  if (typeof rule !== 'object' || rule === null)
    throw new SandboxOptionsError(field, 'expected a CIDR string or { cidr, ports?, protocol? }');
  const r = rule as EgressRule;
  for (const key of Object.keys(r))
    if (!['cidr', 'ports', 'protocol'].includes(key))
      throw new SandboxOptionsError(`${field}.${key}`, 'unknown option');
  const out: ResolvedEgressRule = { cidr: parseCidr(r.cidr, `${field}.cidr`).cidr };
  if (r.ports !== undefined) {
    if (
      !Array.isArray(r.ports) ||
      r.ports.length === 0 ||
      !r.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)
    ) {
      throw new SandboxOptionsError(`${field}.ports`, 'expected a non-empty array of port numbers (1-65535)');
    }
    out.ports = [...r.ports];
  }
  if (r.protocol !== undefined) {
    if (r.protocol !== 'tcp' && r.protocol !== 'udp')
      throw new SandboxOptionsError(`${field}.protocol`, "expected 'tcp' or 'udp'");
    out.protocol = r.protocol;
  }
  return out;
}

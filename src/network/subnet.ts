import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** An IPv4 network in CIDR form, with the integer forms the allocator works on. */
export interface Subnet {
  /** Canonical CIDR, e.g. `10.88.0.0/24`. */
  cidr: string;
  /** First address as an unsigned 32-bit integer. */
  base: number;
  prefixLength: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** `10.88.0.5` → integer, or undefined when not a dotted quad. */
export function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

/** Integer → `10.88.0.5`. */
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/len` (or a bare address as /32); host bits are cleared. */
export function parseCidr(text: unknown, field: string): Subnet {
  if (typeof text !== 'string') throw new SandboxOptionsError(field, 'expected an IPv4 CIDR such as "10.88.0.0/24"');
  const [addr, len = '32', extra] = text.split('/');
  const ip = parseIpv4(addr ?? '');
  const prefixLength = /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (ip === undefined || extra !== undefined || !(prefixLength >= 0 && prefixLength <= 32)) {
    throw new SandboxOptionsError(field, `expected an IPv4 CIDR such as "10.88.0.0/24", got ${JSON.stringify(text)}`);
  }
  const size = 2 ** (32 - prefixLength);
  const base = prefixLength === 0 ? 0 : ((ip >>> (32 - prefixLength)) << (32 - prefixLength)) >>> 0;
  return { cidr: `${formatIpv4(base)}/${prefixLength}`, base, prefixLength, size };
}

/** True when the two networks share an address. */
export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/** True for 10/8, 172.16/12, 192.168/16 and 100.64/10 (shared address space). */
export function isPrivate(s: Subnet): boolean {
  return ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].some((p) => {
    const q = parseCidr(p, 'private');
    return s.base >= q.base && s.base + s.size <= q.base + q.size;
  });
}

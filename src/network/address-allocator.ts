import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isSessionAlive } from '../platform/session.js';
import { formatIpv4, parseIpv4, type Subnet } from './subnet.js';

/** One sandbox's address on a network, owned by the session (Node process) that made it. */
export interface Lease {
  ip: string;
  sandbox: string;
  session: string;
  /** The sandbox's hostname. */
  hostname: string;
  /** Whether other sandboxes resolve `hostname` to `ip` (it was named explicitly). */
  listed: boolean;
  /** Host end of its veth pair. */
  veth: string;
  /** Host file bound onto its /etc/hosts. */
  hostsFile: string;
}

/** What every process sharing a network knows about it: `network.json` in its directory. */
export interface NetworkRecord {
  name: string;
  subnet: string;
  bridge: string;
  table: string;
  gateway: string;
  /** Sessions that opened the network with `Network.create` and have not destroyed it. */
  users: string[];
  /** Made with `persistent: true` (`sandkit network create`): kept until `Network.remove`. */
  persistent?: boolean;
  /** Offset of the next address to try: addresses are handed out round-robin, so one just
   * released (whose old MAC may linger in neighbour caches) is not reused at once. */
  next: number;
  leases: Lease[];
}

const RECORD = 'network.json';

/** The network's record, or undefined when it has none (never created, or removed). */
export function readRecord(dir: string): NetworkRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as NetworkRecord;
  } catch {
    return undefined;
  }
}

/** Replaces the record atomically (readers never see half a file). */
export function writeRecord(dir: string, record: NetworkRecord): void {
  const tmp = join(dir, `${RECORD}.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(record, null, 1));
  renameSync(tmp, join(dir, RECORD));
}

/** Drops users and leases whose session is gone; returns the dropped leases. */
export function pruneDead(record: NetworkRecord): Lease[] {
  record.users = record.users.filter(isSessionAlive);
  const dead = record.leases.filter((l) => !isSessionAlive(l.session));
  record.leases = record.leases.filter((l) => isSessionAlive(l.session));
  return dead;
}

/**
 * A free address of `subnet` for a new lease: not the network, the gateway (first host) or
 * broadcast address, nor any leased one. Undefined when the subnet is full.
 */
export function allocateAddress(record: NetworkRecord, subnet: Subnet): string | undefined {
  const used = new Set(record.leases.map((l) => parseIpv4(l.ip)));
  used.add(parseIpv4(record.gateway));
  const first = 1;
  const count = subnet.size - 2; // host offsets 1 .. size-2
  for (let i = 0; i < count; i++) {
    const offset = first + ((record.next + i) % count);
    const ip = subnet.base + offset;
    if (used.has(ip)) continue;
    record.next = (offset - first + 1) % count;
    return formatIpv4(ip);
  }
  return undefined;
}

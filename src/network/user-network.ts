import { accessSync, constants } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { delimiter, join } from 'node:path';
import { SandboxOptionsError, SandboxUnsupportedError } from '../errors/sandbox-error.js';
import { connection } from '../platform/sessions.js';
import type { ResolvedEgress } from './egress.js';
import { ruleLines } from './nft.js';
import { parseIpv4 } from './subnet.js';

/** The sandbox's address on a user-mode network (the same in every sandbox: nothing routes to it). */
export const USER_NETWORK_ADDRESS = '10.0.2.100';
/** The gateway of a user-mode network: naming it by itself in `egress` reaches the host's loopback. */
export const USER_NETWORK_GATEWAY = '10.0.2.2';
const PREFIX_LENGTH = 24;

/** A user-mode network, resolved: what the sandbox sees and what pasta is told. */
export interface ResolvedUserNetwork {
  /** The sandbox's address (`eth0`). */
  address: string;
  /** Its default gateway. */
  gateway: string;
  /** Extra /etc/hosts entries, name to IPv4 address. */
  hosts: Record<string, string>;
  /** Whether connections to the gateway reach the host's loopback (the gateway is named by itself in `egress`). */
  hostLoopback: boolean;
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** Validates `hosts` of a user-mode network and works out the rest. */
export function resolveUserNetwork(hosts: unknown, egress: ResolvedEgress, field: string): ResolvedUserNetwork {
  if (hosts !== undefined && (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts)))
    throw new SandboxOptionsError(field, 'expected { name: IPv4 address }');
  const entries = Object.entries((hosts ?? {}) as Record<string, unknown>);
  if (entries.length > 256) throw new SandboxOptionsError(field, 'at most 256 names');
  for (const [name, ip] of entries) {
    if (!HOST_NAME.test(name)) throw new SandboxOptionsError(`${field}.${name}`, 'expected a host name');
    if (typeof ip !== 'string' || parseIpv4(ip) === undefined)
      throw new SandboxOptionsError(`${field}.${name}`, 'expected an IPv4 address');
  }
  return {
    address: USER_NETWORK_ADDRESS,
    gateway: USER_NETWORK_GATEWAY,
    hosts: Object.fromEntries(entries) as Record<string, string>,
    hostLoopback: egress.kind === 'list' && egress.rules.some((r) => r.cidr === `${USER_NETWORK_GATEWAY}/32`),
  };
}

/**
 * The egress policy of a user-mode network, as an nft script run in the sandbox's own network
 * namespace. pasta opens a host socket for whatever the sandbox sends out, so every address
 * of the host is a way to its services: like a bridged network's gateway, they are reached only
 * by a rule naming one address; a range that contains them (0.0.0.0/0) does not open them.
 * Loopback inside the sandbox is always allowed; IPv6 never leaves (pasta runs IPv4 only).
 */
export function userEgressScript(egress: ResolvedEgress, hostAddresses: readonly string[]): string {
  const rules = ['oifname "lo" accept', 'meta nfproto ipv6 drop', 'ct state established,related accept'];
  // Never through the tap: pasta would connect to them on the host's own loopback.
  rules.push('ip daddr 127.0.0.0/8 drop');
  if (egress.kind === 'deny') return script(rules);
  const list = egress.kind === 'list' ? egress.rules : [];
  rules.push(...list.filter((r) => r.cidr.endsWith('/32')).flatMap(ruleLines));
  const host = [...new Set(hostAddresses)];
  if (host.length > 0) rules.push(`ip daddr { ${host.join(', ')} } drop`);
  rules.push(...(egress.kind === 'allow' ? ['accept'] : list.flatMap(ruleLines)));
  return script(rules);
}

function script(rules: string[]): string {
  const chain = rules.map((r) => `    ${r}\n`).join('');
  return `table inet sandkit {\n  chain egress {\n    type filter hook output priority filter; policy drop;\n${chain}  }\n}\n`;
}

/** Every IPv4 address of the host's interfaces but loopback. */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

/** Why a user-mode network cannot run here, or undefined when it can. */
export function userNetworkMissing(): SandboxUnsupportedError | undefined {
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).concat(['/usr/bin', '/usr/sbin']);
  const found = dirs.some((d) => {
    try {
      accessSync(join(d, 'pasta'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found)
    return new SandboxUnsupportedError(['pasta'], "network: { mode: 'user' } needs pasta: install the package passt");
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return new SandboxUnsupportedError(
      ['/dev/net/tun'],
      `network: { mode: 'user' } needs /dev/net/tun readable and writable by uid ${process.getuid?.()} (pasta makes a tap device with it; distributions make it mode 0666)`
    );
  }
  return undefined;
}

/**
 * Gives a created sandbox its user-mode network, before any program runs in it: the egress
 * policy first (nft in the sandbox's own namespace, through the helper), then pasta attached to
 * that namespace. The helper owns pasta and stops it with the sandbox (and it dies with the
 * helper), so there is nothing to close here.
 */
export async function startUserNetwork(sandbox: string, user: ResolvedUserNetwork, egress: ResolvedEgress) {
  const missing = userNetworkMissing();
  if (missing) throw missing;
  const helper = connection();
  await helper.request('nft', { sandbox, script: userEgressScript(egress, hostAddresses()) });
  await helper.request('usernet', {
    sandbox,
    address: user.address,
    prefixLength: PREFIX_LENGTH,
    gateway: user.gateway,
    mapGateway: user.hostLoopback,
  });
}

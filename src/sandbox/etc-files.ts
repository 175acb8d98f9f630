import { readFileSync } from 'node:fs';
import type { ResolvedNetworkAttach } from '../network/network-link.js';
import type { NetworkMode } from './options.js';

/**
 * The /etc files sandkit writes into every sandbox's base layer. An attached sandbox's
 * /etc/hosts is a bind of its network's hosts file over this one (updated as peers come and go).
 * `accounts`: passwd and group of a host image that lists accounts beyond root and nobody.
 */
export function etcFiles(
  hostname: string,
  network: NetworkMode | ResolvedNetworkAttach,
  accounts?: { passwd: string; group: string }
): Record<string, string> {
  return {
    ...accounts,
    hostname: `${hostname}\n`,
    hosts: [
      '127.0.0.1\tlocalhost',
      `127.0.1.1\t${hostname}`,
      '::1\tlocalhost ip6-localhost ip6-loopback',
      ...userHosts(network),
      '',
    ].join('\n'),
    'resolv.conf':
      network === 'host'
        ? hostResolvConf()
        : network === 'none'
          ? '# no network: only loopback is reachable\n'
          : attachedResolvConf(network.dns),
  };
}

/** A user-mode network's `hosts` entries (checked names and addresses). */
function userHosts(network: NetworkMode | ResolvedNetworkAttach): string[] {
  if (typeof network !== 'object' || !network.user) return [];
  return Object.entries(network.user.hosts).map(([name, ip]) => `${ip}\t${name}`);
}

function hostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

function attachedResolvConf(dns: readonly string[]): string {
  if (dns.length === 0) return '# no nameservers (network dns: []): names of the network are in /etc/hosts\n';
  return dns.map((ip) => `nameserver ${ip}\n`).join('');
}

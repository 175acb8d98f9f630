import { readFileSync } from 'node:fs';
import type { NetworkMode } from './options.js';

/** The /etc files sandkit writes into every sandbox's writable layer. */
export function etcFiles(hostname: string, network: NetworkMode): Record<string, string> {
  return {
    hostname: `${hostname}\n`,
    hosts: [
      '127.0.0.1\tlocalhost',
      `127.0.1.1\t${hostname}`,
      '::1\tlocalhost ip6-localhost ip6-loopback',
      '',
    ].join('\n'),
    'resolv.conf': network === 'host' ? hostResolvConf() : '# no network: only loopback is reachable\n',
  };
}

function hostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

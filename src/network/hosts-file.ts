import { closeSync, constants, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Lease } from './address-allocator.js';

/**
 * The /etc/hosts of one sandbox on a network: localhost, its own name, then every other
 * listed sandbox of the network.
 */
export function renderHosts(self: Lease, leases: readonly Lease[]): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${self.ip}\t${self.hostname}`];
  for (const l of leases) if (l.sandbox !== self.sandbox && l.listed) lines.push(`${l.ip}\t${l.hostname}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Rewrites the hosts file of every lease in place (same inode, so the read-only bind mount of
 * it inside each sandbox shows the new content at once). Files that vanished are skipped,
 * never re-created.
 */
export function writeAllHosts(leases: readonly Lease[]): void {
  for (const l of leases) {
    let fd: number;
    try {
      // The file is the network's (bound read-only into the sandbox), yet never follow a link
      // or open a FIFO there: only the regular file sandkit made is rewritten.
      fd = openSync(l.hostsFile, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      continue;
    }
    try {
      if (!fstatSync(fd).isFile()) continue;
      const text = Buffer.from(renderHosts(l, leases));
      writeSync(fd, text, 0, text.length, 0);
      ftruncateSync(fd, text.length);
    } finally {
      closeSync(fd);
    }
  }
}

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { describe, expect } from 'vitest';
import { USER_NETWORK_GATEWAY } from '../../src/index.js';
import { userNetworkMissing } from '../../src/network/user-network.js';
import { requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';
import { tcpClient } from '../helpers/network.js';

const missing = userNetworkMissing();

describe("a user-mode network's program against the host's loopback", () => {
  it('reaches no host-loopback server (TCP or UDP) by the gateway, 127.0.0.1 or after trying to drop the policy', async ({
    sandbox,
    task,
    skip,
  }) => {
    requireFeature({ task, skip } as never, missing === undefined, missing?.message ?? '');
    const tcp = createServer((c) => c.end('host secret\n'));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const tcpPort = (tcp.address() as { port: number }).port;
    const udp = createSocket('udp4');
    let udpSeen = 0;
    udp.on('message', () => udpSeen++);
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const udpPort = udp.address().port;
    try {
      for (const egress of [undefined, 'allow', { allow: ['0.0.0.0/0'] }] as const) {
        const sb = sandbox({ network: { mode: 'user', ...(egress && { egress: egress as never }) } });
        const attempt = `
          nft flush ruleset 2>/dev/null; nft delete table inet sandkit 2>/dev/null
          for h in ${USER_NETWORK_GATEWAY} 127.0.0.1 10.0.2.100; do
            timeout 3 bash -c "exec 3<>/dev/tcp/$h/${tcpPort} && cat <&3"
            echo x > /dev/udp/$h/${udpPort}
          done; true`;
        const r = await sb.run(['bash', '-c', attempt]);
        expect(r.stdout, JSON.stringify(egress)).not.toContain('secret');
        expect((await sb.run(tcpClient(USER_NETWORK_GATEWAY, tcpPort, 3))).stdout).toBe('');
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(udpSeen).toBe(0);
    } finally {
      tcp.close();
      udp.close();
    }
  });
});

import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { connection } from '../../src/platform/sessions.js';
import { waitUntil } from '../helpers/host.js';
import { it } from '../helpers/sandboxes.js';

describe('UDP published into a loopback-only sandbox: a flood of clients', () => {
  it('2000 client addresses cost the helper at most 1024 sockets, and another sandbox keeps working', async ({
    sandbox,
  }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 7800, protocol: 'udp' }] } });
    sb.spawn([
      'python3',
      '-c',
      'import socket,time\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 7800))\ntime.sleep(300)',
    ]);
    await sb.waitForPort(7800, { protocol: 'udp', timeout: 20_000 });
    const port = await sb.publishedPort(7800, 'udp');
    const helperFds = () => readdirSync(`/proc/${connection().pid}/fd`).length;
    const before = helperFds();
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 2000; i++) {
        const c = createSocket('udp4');
        clients.push(c);
        await new Promise<void>((resolve) => c.bind(0, '127.0.0.1', resolve));
        c.send('x', port, '127.0.0.1');
      }
      // The relay works through the datagrams at its own pace: wait until it holds its cap.
      await waitUntil(() => helperFds() - before >= 1024, 10_000, 100);
      const added = helperFds() - before;
      expect(added).toBeGreaterThan(100); // the relay did open sockets inside
      expect(added).toBeLessThanOrEqual(1024 + 8);
      const other = sandbox();
      expect((await other.run(['echo', 'still served'])).stdout).toBe('still served\n');
    } finally {
      for (const c of clients) c.close();
    }
    await sb.destroy();
    // The relay's host socket is gone with the sandbox: its port can be bound again.
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, '127.0.0.1', resolve);
    });
    again.close();
  });
});

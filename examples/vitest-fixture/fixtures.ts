// Test fixtures that run servers in sandboxes: each test gets a fresh HTTP server on its own
// network address, published on a free port of the host's loopback, and torn down after.
import { test as base } from 'vitest';
import { Network, Sandbox } from 'sandkit';

/** What a test gets: the server's base URL and its sandbox (to read its logs or files). */
export interface HttpServer {
  url: string;
  sandbox: Sandbox;
}

const PORT = 8000;

export const test = base.extend<{ server: HttpServer; network: Network }>({
  // One network per test worker (a bridge with a free private /24), shared by its tests.
  network: [
    async ({}, use) => {
      const network = await Network.create();
      await use(network);
      await network.destroy();
    },
    { scope: 'worker' },
  ],
  server: async ({ network }, use) => {
    const sandbox = new Sandbox({ network: { attach: network, publish: [{ sandbox: PORT }] } });
    try {
      await sandbox.files.write('/srv/hello.txt', 'hello from the sandbox\n');
      sandbox.spawn(['python3', '-m', 'http.server', String(PORT), '--bind', '0.0.0.0', '--directory', '/srv']);
      await sandbox.waitForPort(PORT, { timeout: 20_000 });
      await use({ url: `http://127.0.0.1:${await sandbox.publishedPort(PORT)}`, sandbox });
    } finally {
      await sandbox.destroy();
    }
  },
});

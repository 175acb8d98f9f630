import { describe, expect } from 'vitest';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Network, SandboxUnsupportedError, type Sandbox } from '../../src/index.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';
import { helloServer, tcpClient, testSubnet } from '../helpers/network.js';

/** Starts the hello server in `sb` and waits until it listens. */
async function serve(sb: Sandbox, port: number): Promise<void> {
  const proc = sb.spawn(helloServer(port));
  for await (const line of proc) if (line === 'listening') return;
  throw new Error(`server in ${sb.id} did not start: ${(await proc).stderr}`);
}

function readFromHost(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const s = connect(port, '127.0.0.1');
    s.setEncoding('utf8')
      .on('data', (d: string) => {
        data += d;
      })
      .on('end', () => resolve(data))
      .on('error', reject);
  });
}

describe('networks: attach, addresses, names, published ports', () => {
  // Each test exists only in the pass it belongs to: as root a skipped test fails CI.
  if (!isRoot) {
    it('rootless, Network.create fails with SandboxUnsupportedError', async () => {
      const err = await Network.create({ subnet: testSubnet(0) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxUnsupportedError);
      expect((err as SandboxUnsupportedError).missing).toEqual(['network bridge']);
      expect(String(err)).toMatch(/needs root/);
    });
    return;
  }

  it('sandboxes on one network get distinct addresses and reach each other by IP and by name', async ({ sandbox }) => {
    const net = await Network.create({ subnet: testSubnet(1) });
    try {
      const db = sandbox({ network: { attach: net, hostname: 'db' } });
      const app = sandbox({ network: { attach: net, hostname: 'app', egress: { allow: [net.subnet] } } });
      await Promise.all([db.start(), app.start()]);
      await serve(db, 7000);
      const hosts = (await app.run(['cat', '/etc/hosts'])).stdout;
      const dbIp = /^(\S+)\tdb$/m.exec(hosts)?.[1];
      expect(dbIp).toMatch(/^10\./);
      expect((await app.run(['hostname'])).stdout).toBe('app\n');
      const byIp = await app.run(tcpClient(dbIp!, 7000));
      const appIp = /^(\S+)\tapp$/m.exec(hosts)?.[1];
      expect(byIp.stdout).toBe(`hello ${appIp}\n`);
      expect((await app.run(tcpClient('db', 7000))).stdout).toBe(`hello ${appIp}\n`);
    } finally {
      await net.destroy();
    }
  });

  it('a published port is reachable from the host on 127.0.0.1', async ({ sandbox }) => {
    const net = await Network.create({ subnet: testSubnet(2) });
    try {
      const db = sandbox({ network: { attach: net, hostname: 'db', publish: [{ sandbox: 7001, host: 0 }] } });
      await serve(db, 7001);
      const port = await db.publishedPort(7001);
      expect(port).toBeGreaterThan(0);
      expect(await readFromHost(port)).toBe(`hello ${net.gateway}\n`);
    } finally {
      await net.destroy();
    }
  });

  it('/etc/hosts follows sandboxes joining and leaving the network', async ({ sandbox }) => {
    const net = await Network.create({ subnet: testSubnet(3) });
    try {
      const a = sandbox({ network: { attach: net, hostname: 'a' } });
      await a.start();
      expect((await a.run(['cat', '/etc/hosts'])).stdout).not.toMatch(/\tb$/m);
      const b = sandbox({ network: { attach: net, hostname: 'b' } });
      await b.start();
      expect((await a.run(['cat', '/etc/hosts'])).stdout).toMatch(/^10\.\S+\tb$/m);
      await expect(sandbox({ network: { attach: net, hostname: 'b' } }).start()).rejects.toThrow(/"b" is already used/);
      await b.destroy();
      expect((await a.run(['cat', '/etc/hosts'])).stdout).not.toMatch(/\tb$/m);
      expect((await a.run(['sh', '-c', 'echo x >> /etc/hosts'])).exitCode).not.toBe(0); // read-only inside
    } finally {
      await net.destroy();
    }
  });

  it('a published UDP port answers datagrams from the host', async ({ sandbox }) => {
    const net = await Network.create({ subnet: testSubnet(4) });
    try {
      const sb = sandbox({ network: { attach: net, publish: [{ sandbox: 7002, protocol: 'udp' }] } });
      const server = sb.spawn([
        'perl',
        '-MIO::Socket::INET',
        '-e',
        '$|=1; my $s=IO::Socket::INET->new(LocalPort=>7002,Proto=>"udp") or die "$!"; print "listening\\n"; while ($s->recv(my $m, 1024)) { $s->send("echo $m") }',
      ]);
      for await (const line of server) if (line === 'listening') break;
      const port = await sb.publishedPort(7002, 'udp');
      const client = createSocket('udp4');
      try {
        const reply = await new Promise<string>((resolve) => {
          client.on('message', (m) => resolve(String(m)));
          client.send('ping', port, '127.0.0.1');
        });
        expect(reply).toBe('echo ping');
      } finally {
        client.close();
      }
    } finally {
      await net.destroy();
    }
  });
});

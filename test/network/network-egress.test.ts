import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, expect } from 'vitest';
import { Network, type EgressPolicy } from '../../src/index.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';
import { helloServer, makeOutsideHost, tcpClient, testSubnet } from '../helpers/network.js';

// Egress policy against a server in a namespace the test makes (see makeOutsideHost): only
// loopback, the test's bridge and its own namespaces are ever used.

/** The hello server on `port` inside the outside namespace, once it listens. */
async function outsideServer(ns: string, port: number): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, ...helloServer(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`outside server exited with ${code}`)));
  });
  return child;
}

describe.runIf(isRoot)('network egress policy (nftables)', () => {
  it.for([
    ['default (deny)', false, undefined],
    ['deny', false, 'deny'],
    ['allow', true, 'allow'],
    ['allow the outside /24', true, { allow: ['OUTSIDE'] }],
    ['allow the outside host, tcp port 7100', true, { allow: [{ cidr: 'HOST', ports: [7100], protocol: 'tcp' }] }],
    ['allow the outside host, another port', false, { allow: [{ cidr: 'HOST', ports: [7199] }] }],
    ['allow another range', false, { allow: ['10.254.254.0/24'] }],
  ] as Array<[string, boolean, EgressPolicy | undefined]>)(
    'egress %s: reaches a server outside the subnet: %s',
    async ([, reaches, policy], { sandbox }) => {
      const net = await Network.create({ subnet: testSubnet(10) });
      const outsideNet = testSubnet(11);
      const outside = makeOutsideHost(net.bridge, outsideNet, `e${process.pid % 100000}`);
      let server: ChildProcess | undefined;
      try {
        server = await outsideServer(`sktest-e${process.pid % 100000}`, 7100);
        const egress = JSON.parse(
          JSON.stringify(policy ?? null)
            ?.replace('OUTSIDE', outsideNet)
            .replace('HOST', outside.address)
        ) as EgressPolicy | null;
        const sb = sandbox({ network: { attach: net, ...(egress ? { egress } : {}) } });
        const r = await sb.run(tcpClient(outside.address, 7100, 2));
        if (reaches) {
          // Masqueraded: the outside host sees the bridge's address on its subnet, not the sandbox's.
          expect(r.stdout).toBe(`hello ${outsideNet.replace(/\.0\/24$/, '.1')}\n`);
        } else {
          expect(r.stdout).toBe('');
          expect(r.exitCode).not.toBe(0);
        }
      } finally {
        server?.kill('SIGKILL');
        outside.remove();
        await net.destroy();
      }
    }
  );

  // The gateway is the host itself: a host service listening on it (or on 0.0.0.0) must not be
  // reachable through a range that happens to contain it, only when its address is listed.
  it.for([
    ['the subnet', false, ['SUBNET']],
    ['everything as a range', false, ['0.0.0.0/0']],
    ['the gateway address', true, ['GATEWAY']],
    ['the subnet and the gateway', true, ['SUBNET', 'GATEWAY']],
    ['the gateway, tcp on the listener port', true, [{ cidr: 'GATEWAY', ports: ['PORT'], protocol: 'tcp' }]],
    ['the gateway, another port', false, [{ cidr: 'GATEWAY', ports: [1], protocol: 'tcp' }]],
  ] as Array<[string, boolean, unknown[]]>)(
    'egress allow %s: reaches a host listener on the gateway: %s',
    async ([, reaches, allow], { sandbox }) => {
      const net = await Network.create({ subnet: testSubnet(13) });
      const server = createServer((c) => c.end(`hello ${c.remoteAddress}\n`));
      try {
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, net.gateway, resolve));
        const port = (server.address() as AddressInfo).port;
        const egress = JSON.parse(
          JSON.stringify({ allow })
            .replaceAll('"SUBNET"', JSON.stringify(net.subnet))
            .replaceAll('"GATEWAY"', JSON.stringify(net.gateway))
            .replaceAll('"PORT"', String(port))
        ) as EgressPolicy;
        const sb = sandbox({ network: { attach: net, egress } });
        const r = await sb.run(tcpClient(net.gateway, port, 2));
        if (reaches) {
          expect(r.stdout).toMatch(/^hello 10\./);
        } else {
          expect(r.stdout).toBe('');
          expect(r.exitCode).not.toBe(0);
        }
      } finally {
        server.close();
        await net.destroy();
      }
    }
  );

  it('deny by default also holds between sandboxes; replies to allowed peers always pass', async ({ sandbox }) => {
    const net = await Network.create({ subnet: testSubnet(12) });
    try {
      const a = sandbox({ network: { attach: net, hostname: 'a' } });
      const b = sandbox({ network: { attach: net, hostname: 'b', egress: { allow: [net.subnet] } } });
      const serveIn = async (sb: typeof a, port: number) => {
        const p = sb.spawn(helloServer(port));
        for await (const line of p) if (line === 'listening') return;
      };
      await Promise.all([serveIn(a, 7200), serveIn(b, 7201)]);
      expect((await b.run(tcpClient('a', 7200))).stdout).toMatch(/^hello 10\./); // b may, a answers
      const denied = await a.run(tcpClient('b', 7201, 2));
      expect(denied.stdout).toBe('');
      expect(denied.exitCode).not.toBe(0);
    } finally {
      await net.destroy();
    }
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
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
  ] as Array<[string, boolean, EgressPolicy | undefined]>)('egress %s: reaches a server outside the subnet: %s', async ([, reaches, policy], { sandbox }) => {
    const net = await Network.create({ subnet: testSubnet(10) });
    const outsideNet = testSubnet(11);
    const outside = makeOutsideHost(net.bridge, outsideNet, `e${process.pid % 100000}`);
    let server: ChildProcess | undefined;
    try {
      server = await outsideServer(`sktest-e${process.pid % 100000}`, 7100);
      const egress = JSON.parse(JSON.stringify(policy ?? null)?.replace('OUTSIDE', outsideNet).replace('HOST', outside.address)) as EgressPolicy | null;
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
  });

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

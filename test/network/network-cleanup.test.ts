import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { describe, expect } from 'vitest';
import { Network, Sandbox, SandboxSetupError } from '../../src/index.js';
import { dist } from '../helpers/dist.js';
import { stateRoot, waitUntil } from '../helpers/host.js';
import { ip, sandkitLinks, sandkitTables, testSubnet } from '../helpers/network.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

/** Veths, bridges and tables of one network: what must be gone after it is destroyed. */
function tracesOf(net: Network, veths: Set<string>): string[] {
  return [
    ...sandkitLinks().filter((l) => l === net.bridge || veths.has(l)),
    ...sandkitTables().filter((t) => t.endsWith(` ${net.table}`)),
  ];
}

/** The bridge's ports: the host ends of its sandboxes' veths. */
function portsOf(net: Network): string[] {
  return (JSON.parse(ip('-j', 'link', 'show', 'master', net.bridge)) as Array<{ ifname: string }>).map((l) => l.ifname);
}

const CHILD = (subnet: string) => `
import { Network, Sandbox } from ${JSON.stringify(pathToFileURL(dist.index).href)};
const net = await Network.create({ subnet: ${JSON.stringify(subnet)} });
const sb = new Sandbox({ network: { attach: net, hostname: 'crashed' } });
await sb.start();
console.log(JSON.stringify({ bridge: net.bridge, table: net.table }));
setInterval(() => {}, 1000);
`;

describe.runIf(isRoot)('network cleanup', () => {
  it('100 create/destroy cycles leave no veth, rule or address behind; concurrent sandboxes get distinct addresses', async () => {
    const net = await Network.create({ subnet: testSubnet(20) });
    const veths = new Set<string>();
    try {
      for (let round = 0; round < 10; round++) {
        const batch = Array.from(
          { length: 10 },
          (_, i) => new Sandbox({ network: { attach: net, hostname: `s${i}` } })
        );
        try {
          await Promise.all(batch.map((s) => s.start()));
          const hosts = (await batch[0]!.run(['cat', '/etc/hosts'])).stdout;
          const addresses = [...hosts.matchAll(/^(10\.\S+)\ts\d$/gm)].map((m) => m[1]);
          expect(addresses).toHaveLength(10);
          expect(new Set(addresses).size).toBe(10);
          for (const l of portsOf(net)) veths.add(l);
        } finally {
          await Promise.all(batch.map((s) => s.destroy()));
        }
      }
      // The kernel deletes a veth pair when the sandbox's network namespace goes (asynchronously).
      expect(veths.size).toBe(100);
      expect(await waitUntil(() => portsOf(net).length === 0, 5000, 50), portsOf(net).join(', ')).toBe(true);
      const rules = (await import('node:child_process')).execFileSync('nft', ['list', 'table', 'inet', net.table], {
        encoding: 'utf8',
      });
      expect(rules).not.toMatch(/sb_sk/);
      expect(rules).not.toMatch(/10\.\d+\.\d+\.\d+ : jump/);
    } finally {
      await net.destroy();
    }
    expect(await waitUntil(() => tracesOf(net, veths).length === 0, 5000, 50), tracesOf(net, veths).join(', ')).toBe(
      true
    );
  });

  it('a setup step failing half-way (no bridge: net.veth) gives back the address and removes the rules', async () => {
    const net = await Network.create({ subnet: testSubnet(21) });
    try {
      ip('link', 'del', net.bridge); // sabotage: the veth has nothing to attach to
      const sb = new Sandbox({ network: { attach: net, hostname: 'half' } });
      const err = await sb.start().catch((e: unknown) => e);
      await sb.destroy();
      expect(err).toBeInstanceOf(SandboxSetupError);
      expect((err as SandboxSetupError).step).toBe('net.veth');
      const rules = (await import('node:child_process')).execFileSync('nft', ['list', 'table', 'inet', net.table], {
        encoding: 'utf8',
      });
      expect(rules).not.toMatch(/sb_sk/);
      const record = JSON.parse(readFileSync(join(net.dir, 'network.json'), 'utf8')) as { leases: unknown[] };
      expect(record.leases).toEqual([]);
    } finally {
      await net.destroy();
    }
    expect(sandkitTables().filter((t) => t.endsWith(net.table))).toEqual([]);
  });

  it('after kill -9 of a Node process, the next Network.create sweeps its bridge and tables', async ({ tempDir }) => {
    const stateDir = mkdtempSync(join(stateRoot(), 'netcrash-'));
    const script = join(tempDir('sandkit-netcrash-'), 'child.mjs');
    writeFileSync(script, CHILD(testSubnet(22)));
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, SANDKIT_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 25_000,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
    });
    const { bridge, table } = JSON.parse(line) as { bridge: string; table: string };
    expect(sandkitLinks()).toContain(bridge);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const other = await Network.create({ subnet: testSubnet(23), stateDir });
    await other.destroy();
    expect(sandkitLinks()).not.toContain(bridge);
    expect(sandkitTables().filter((t) => t.endsWith(table))).toEqual([]);
  });
});

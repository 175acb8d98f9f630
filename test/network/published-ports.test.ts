import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';
import { describe, expect } from 'vitest';
import { Network, sweepStaleNetworks } from '../../src/index.js';
import { parseCidr, overlaps } from '../../src/network/subnet.js';
import { dist } from '../helpers/dist.js';
import { helloServer, ip, testSubnet } from '../helpers/network.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

/** What a TCP client on the host sees: the first event and when. */
function firstOutcome(port: number): Promise<{ outcome: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('data', () => {
      resolve({ outcome: 'data', ms: Date.now() - t0 });
      s.destroy();
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ outcome: e.code ?? 'error', ms: Date.now() - t0 }));
    s.on('end', () => resolve({ outcome: 'end', ms: Date.now() - t0 }));
  });
}

/** Runs an ES module with Node; resolves with its exit code and output. */
function runNode(
  code: string,
  env: Record<string, string> = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('close', (c) => resolve({ code: c, stdout, stderr }));
  });
}

const SDK = JSON.stringify(pathToFileURL(dist.index).href);

describe.runIf(isRoot)('published ports: readiness and the event loop; default subnets', () => {
  it('a connection to a port nothing listens on yet is reset at once; once it listens, data flows', async ({
    sandbox,
  }) => {
    const net = await Network.create({ subnet: testSubnet(30) });
    try {
      const sb = sandbox({ network: { attach: net, publish: [{ sandbox: 7100 }] } });
      const port = await sb.publishedPort(7100);
      for (let i = 0; i < 3; i++) {
        const early = await firstOutcome(port);
        expect(early.outcome).toBe('ECONNRESET');
        expect(early.ms).toBeLessThan(1000);
      }
      const fetched = await fetch(`http://127.0.0.1:${port}/`).then(
        () => 'ok',
        (e: { cause?: { code?: string } }) => e.cause?.code
      );
      expect(fetched).toBe('ECONNRESET');
      sb.spawn(helloServer(7100));
      await sb.waitForPort(7100, { timeout: 20_000 });
      const late = await firstOutcome(port);
      expect(late.outcome).toBe('data');
    } finally {
      await net.destroy();
    }
  });

  it('fetch to a published port with nothing listening settles, and Node then exits on its own (no exit 13)', async ({
    tempDir,
  }) => {
    const state = tempDir();
    const res = await runNode(`
      import { Network, Sandbox } from ${SDK};
      const net = await Network.create({ subnet: ${JSON.stringify(testSubnet(31))}, stateDir: ${JSON.stringify(state)} });
      const sb = new Sandbox({ stateDir: ${JSON.stringify(state)}, network: { attach: net, publish: [{ sandbox: 7101 }] } });
      const port = await sb.publishedPort(7101);
      const r = await fetch('http://127.0.0.1:' + port + '/').then(() => 'ok', (e) => e.cause?.code ?? String(e));
      console.log('fetch:', r);
      await sb.destroy();
      await net.destroy();
    `);
    expect(res.stdout).toBe('fetch: ECONNRESET\n');
    expect(res.code).toBe(0);
  });

  it('an idle published port does not keep Node alive', async ({ tempDir }) => {
    const state = tempDir();
    const t0 = Date.now();
    const res = await runNode(`
      import { Network, Sandbox } from ${SDK};
      const net = await Network.create({ subnet: ${JSON.stringify(testSubnet(32))}, stateDir: ${JSON.stringify(state)} });
      const sb = new Sandbox({ stateDir: ${JSON.stringify(state)}, network: { attach: net, publish: [{ sandbox: 7102 }] } });
      console.log('port', await sb.publishedPort(7102));
    `);
    try {
      expect(res.stdout).toMatch(/^port \d+\n$/);
      expect(res.code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await sweepStaleNetworks(state); // the script ended without destroying its network
    }
  });

  it('Network.create() without a subnet picks a free private /24, distinct across 5 concurrent processes', async ({
    tempDir,
  }) => {
    const hostRanges = (
      JSON.parse(ip('-j', '-4', 'addr', 'show')) as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>
    ).flatMap((l) => (l.addr_info ?? []).map((a) => parseCidr(`${a.local}/${a.prefixlen}`, 'a')));
    const states = Array.from({ length: 5 }, () => tempDir());
    const children = states.map((state) => {
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `
        import { Network } from ${SDK};
        const net = await Network.create({ stateDir: ${JSON.stringify(state)} });
        console.log(net.subnet + ' ' + net.name);
        process.stdin.once('data', async () => { await net.destroy(); process.exit(0); });
      `,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] }
      );
      const line = new Promise<string>((resolve) =>
        child.stdout.setEncoding('utf8').once('data', (d: string) => resolve(d.trim()))
      );
      return { child, line };
    });
    try {
      const lines = await Promise.all(children.map((c) => c.line));
      const subnets = lines.map((l) => l.split(' ')[0]!);
      expect(new Set(subnets).size).toBe(5);
      for (const s of subnets) {
        const net = parseCidr(s, 's');
        expect(net.prefixLength).toBe(24);
        expect(s).toMatch(/^10\.(89|9[0-5])\./);
        for (const h of hostRanges) expect(overlaps(net, h)).toBe(false);
      }
      expect(lines[0]).toMatch(/ net-10-/);
    } finally {
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise((resolve) => {
              child.on('close', resolve);
              child.stdin.end('x');
            })
        )
      );
      for (const s of states) await sweepStaleNetworks(s);
    }
  });

  it('Network.create({ name }) without a subnet joins the network of that name', async ({ tempDir }) => {
    const state = tempDir();
    const a = await Network.create({ name: 'fixtures', stateDir: state });
    try {
      const b = await Network.create({ name: 'fixtures', stateDir: state });
      expect(b.subnet).toBe(a.subnet);
      expect(b.bridge).toBe(a.bridge);
      await b.destroy();
    } finally {
      await a.destroy();
    }
  });
});

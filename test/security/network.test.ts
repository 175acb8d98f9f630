import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/index.js';
import { PROBE, probeMount } from '../helpers/probe.js';
import { attackers, expectRefused } from '../helpers/security-outcomes.js';

/** A host server that counts the connections it accepts. */
async function listen(server: Server, ...args: unknown[]): Promise<{ server: Server; accepted: () => number }> {
  let accepted = 0;
  server.on('connection', (s) => {
    accepted++;
    s.destroy();
  });
  server.listen(...(args as [string]));
  await once(server, 'listening');
  return { server, accepted: () => accepted };
}

// The host's own non-loopback IPv4 addresses (a machine may have none but lo).
// The host's own addresses, not those of bridges sandkit's network tests make and remove.
const hostAddresses = Object.entries(networkInterfaces())
  .filter(([name]) => !name.startsWith('sk'))
  .flatMap(([, addrs]) => addrs ?? [])
  .filter((a) => a.family === 'IPv4' && !a.internal)
  .map((a) => a.address);

// The sandbox has its own network namespace: only its own lo, no route anywhere.
describe.each(attackers.map((a) => [a.who, a.user] as const))('no way out through the network, as %s', (_who, user) => {
  let sandbox: Sandbox;
  let tcp: Awaited<ReturnType<typeof listen>>;
  let unix: Awaited<ReturnType<typeof listen>>;
  const abstractName = `sandkit-host-${randomBytes(6).toString('hex')}`;
  const run = (argv: string[]) => sandbox.run(argv, { user, limits: { wallTime: '10s' } });

  beforeAll(async () => {
    sandbox = new Sandbox({ mounts: [probeMount()] });
    tcp = await listen(createServer(), 0, '0.0.0.0');
    unix = await listen(createServer(), `\0${abstractName}`);
  });
  afterAll(async () => {
    tcp.server.close();
    unix.server.close();
    await sandbox.destroy();
  });

  it.each([
    // 127.0.0.1 inside is the sandbox's own loopback, where nothing listens.
    { ip: '127.0.0.1', refused: ['ECONNREFUSED'] },
    ...hostAddresses.map((ip) => ({ ip, refused: ['ENETUNREACH'] })),
  ])('a TCP connect to a host listener on $ip fails ($refused) and reaches nothing', async ({ ip, refused }) => {
    const port = (tcp.server.address() as AddressInfo).port;
    // The listener is really there for the host.
    const control = createConnection(port, ip);
    await once(control, 'connect');
    control.destroy();
    const before = tcp.accepted();
    expectRefused(await run([PROBE, 'connect-tcp', ip, String(port)]), refused);
    await new Promise((r) => setTimeout(r, 50));
    expect(tcp.accepted()).toBe(before);
  });

  it("the host's abstract unix socket is unreachable (abstract sockets belong to the network namespace)", async () => {
    const control = createConnection(`\0${abstractName}`);
    await once(control, 'connect');
    control.destroy();
    const before = unix.accepted();
    expectRefused(await run([PROBE, 'connect-unix', `@${abstractName}`]), ['ECONNREFUSED']);
    await new Promise((r) => setTimeout(r, 50));
    expect(unix.accepted()).toBe(before);
  });

  it("no host socket shows in the sandbox's /proc/net", async () => {
    const r = await run(['cat', '/proc/net/unix', '/proc/net/tcp', '/proc/net/tcp6']);
    expect(r.stdout).not.toContain(abstractName);
    const port = (tcp.server.address() as AddressInfo).port.toString(16).toUpperCase().padStart(4, '0');
    expect(r.stdout).not.toMatch(new RegExp(`:${port} `));
  });
});

import { createSocket } from 'node:dgram';
import { describe, expect } from 'vitest';
import { it } from '../helpers/sandboxes.js';

/** A UDP echo server inside, on 127.0.0.1:port, answering "echo:" + the datagram. */
const udpEcho = (port: number) => [
  'python3',
  '-c',
  `import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", ${port}))\nwhile True:\n  d,a=s.recvfrom(70000); s.sendto(b"echo:"+d, a)`,
];

/** Sends `payload` from a fresh host socket and resolves with the answer (or 'timeout'). */
function roundTrip(port: number, payload: Buffer | string, ms = 5000): Promise<Buffer | 'timeout'> {
  return new Promise((resolve) => {
    const c = createSocket('udp4');
    const timer = setTimeout(() => {
      c.close();
      resolve('timeout');
    }, ms);
    c.on('message', (m) => {
      clearTimeout(timer);
      c.close();
      resolve(m);
    });
    c.send(payload, port, '127.0.0.1');
  });
}

describe('UDP ports published into a loopback-only sandbox (root and rootless)', () => {
  it('100 host clients at once each get their own answers; a 60000-byte datagram comes back whole', async ({
    sandbox,
  }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 5353, protocol: 'udp' }] } });
    sb.spawn(udpEcho(5353));
    await sb.waitForPort(5353, { protocol: 'udp', timeout: 20_000 });
    const port = await sb.publishedPort(5353, 'udp');
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => roundTrip(port, `client ${i}`)));
    expect(answers.map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `echo:client ${i}`));
    const big = Buffer.from(Array.from({ length: 60_000 }, (_, i) => i % 251));
    const back = await roundTrip(port, big);
    expect(back).not.toBe('timeout');
    expect(Buffer.compare(back as Buffer, Buffer.concat([Buffer.from('echo:'), big]))).toBe(0);
    // The sandbox still has nothing but lo, and TCP publishing works next to UDP.
    expect((await sb.run(['sh', '-c', "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"])).stdout).toBe('lo\n');
  });

  it('before the program binds, datagrams are dropped (no hang); destroy frees the host port', async ({ sandbox }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 5354, protocol: 'udp' }] } });
    const port = await sb.publishedPort(5354, 'udp');
    expect(await roundTrip(port, 'early', 500)).toBe('timeout');
    sb.spawn(udpEcho(5354));
    await sb.waitForPort(5354, { protocol: 'udp', timeout: 20_000 });
    expect(String(await roundTrip(port, 'late'))).toBe('echo:late');
    await sb.destroy();
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, '127.0.0.1', resolve);
    });
    again.close();
  });
});

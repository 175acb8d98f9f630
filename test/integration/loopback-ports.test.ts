import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect } from 'vitest';
import type { SandboxOptionsError } from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';

const py = (code: string) => ['python3', '-c', code];

/** A TCP server inside that answers each connection with its peer's address, then `size` bytes of a pattern. */
const echoPeer = (port: number, size = 0) =>
  py(
    `import socket,threading\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(("127.0.0.1", ${port})); s.listen(128)\n` +
      `def serve(c, a):\n  with c:\n    c.sendall((a[0] + "\\n").encode())\n    data = bytes(range(256)) * 4096\n    left = ${size}\n    while left > 0:\n      n = min(left, len(data)); c.sendall(data[:n]); left -= n\n` +
      `while True:\n  c, a = s.accept(); threading.Thread(target=serve, args=(c, a), daemon=True).start()`
  );

/** Everything a host client reads from `port` until the server closes, or the error code. */
function readAll(port: number): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

describe('ports published into a loopback-only sandbox (no network, root and rootless)', () => {
  it('the sandbox keeps only lo; a host client reaches a server bound to its 127.0.0.1, seen as coming from 127.0.0.1', async ({
    sandbox,
  }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 7400 }] } });
    const port = await sb.publishedPort(7400);
    const ifaces = (await sb.run(['sh', '-c', "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"])).stdout;
    expect(ifaces).toBe('lo\n');
    expect((await sb.run(['cat', '/proc/net/route'])).stdout.split('\n').filter(Boolean)).toHaveLength(1); // the header: no route at all
    sb.spawn(echoPeer(7400));
    await sb.waitForPort(7400, { timeout: 20_000 });
    expect(String(await readAll(port))).toBe('127.0.0.1\n');
  });

  it('before the program listens a connection is reset at once; after, 50 concurrent ones are all served intact', async ({
    sandbox,
  }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 7401 }] } });
    const port = await sb.publishedPort(7401);
    const t0 = Date.now();
    expect(await readAll(port)).toBe('ECONNRESET');
    expect(Date.now() - t0).toBeLessThan(1000);
    sb.spawn(echoPeer(7401, 1 << 20));
    await sb.waitForPort(7401, { timeout: 20_000 });
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from('127.0.0.1\n'), Buffer.alloc(1 << 20, 0).map((_, i) => i % 256)]))
      .digest('hex');
    const all = await Promise.all(Array.from({ length: 50 }, () => readAll(port)));
    for (const got of all)
      expect(typeof got === 'string' ? got : createHash('sha256').update(got).digest('hex')).toBe(expected);
  });

  it('data flows both ways and a half-close is passed on', async ({ sandbox }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 7402 }] } });
    const port = await sb.publishedPort(7402);
    sb.spawn(
      py(
        'import socket\ns=socket.socket(); s.bind(("127.0.0.1", 7402)); s.listen(4)\nwhile True:\n  c,_=s.accept()\n  data=b""\n  while True:\n    d=c.recv(65536)\n    if not d: break\n    data+=d\n  c.sendall(data[::-1]); c.close()'
      )
    );
    await sb.waitForPort(7402, { timeout: 20_000 });
    const reply = await new Promise<string>((resolve, reject) => {
      let out = '';
      const s = connect(port, '127.0.0.1', () => s.end('abcdef'));
      s.setEncoding('utf8')
        .on('data', (d: string) => {
          out += d;
        })
        .on('end', () => resolve(out))
        .on('error', reject);
    });
    expect(reply).toBe('fedcba');
  });

  it('destroy closes the host port and cuts open connections', async ({ sandbox }) => {
    const sb = sandbox({ network: { publish: [{ sandbox: 7403 }] } });
    const port = await sb.publishedPort(7403);
    sb.spawn(
      py(
        'import socket,time\ns=socket.socket(); s.bind(("127.0.0.1", 7403)); s.listen(4)\nc,_=s.accept(); c.sendall(b"hi\\n"); time.sleep(60)'
      )
    );
    await sb.waitForPort(7403, { timeout: 20_000 });
    const open = connect(port, '127.0.0.1');
    await new Promise((resolve) => open.once('data', resolve));
    const closed = new Promise((resolve) => open.once('close', resolve));
    await sb.destroy();
    await closed;
    expect(await readAll(port)).toBe('ECONNREFUSED');
  });

  it('bad options name the field', ({ sandbox }) => {
    const field = (network: unknown) => {
      try {
        sandbox({ network: network as never });
      } catch (e) {
        return (e as SandboxOptionsError).field;
      }
      return 'accepted';
    };
    expect(field({ publish: [{ sandbox: 53, protocol: 'sctp' }] })).toBe('network.publish[0].protocol');
    expect(field({ publish: [{ sandbox: 80 }], hostname: 'db' })).toBe('network.hostname');
    expect(field({ publish: [{ sandbox: 80 }], egress: 'allow' })).toBe('network.egress');
    expect(field({ publish: [] })).toBe('network.attach');
    expect(field({ publish: [{ sandbox: 0 }] })).toBe('network.publish[0].sandbox');
  });
});

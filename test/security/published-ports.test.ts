import { connect } from 'node:net';
import { describe, expect } from 'vitest';
import { it } from '../helpers/sandboxes.js';

/** Opens a host connection and reports how it ended within `ms`: 'reset', 'closed', or 'open' (still connected). */
function outcome(port: number, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      resolve('open');
      s.destroy();
    }, ms);
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === 'ECONNRESET' ? 'reset' : (e.code ?? 'error'));
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('published ports into a loopback-only sandbox: a hostile program', () => {
  it('a listener that never accepts cannot stall the helper: other sandboxes keep spawning, and every connection ends', async ({
    sandbox,
  }) => {
    const hostile = sandbox({ network: { publish: [{ sandbox: 7500 }] } });
    const port = await hostile.publishedPort(7500);
    // Backlog 1 and never accept(): past the backlog, SYNs are dropped and connects hang.
    hostile.spawn([
      'python3',
      '-c',
      'import socket,time\ns=socket.socket(); s.bind(("127.0.0.1", 7500)); s.listen(1)\ntime.sleep(120)',
    ]);
    await hostile.waitForPort(7500, { timeout: 20_000 });
    const other = sandbox();
    await other.start();
    const flood = Array.from({ length: 300 }, () => outcome(port, 8_000));
    const spawnTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      expect((await other.run(['true'])).exitCode).toBe(0);
      spawnTimes.push(Date.now() - t0);
    }
    const ends = await Promise.all(flood);
    // The helper never waited on the hostile sandbox: spawns elsewhere stayed quick.
    expect(Math.max(...spawnTimes)).toBeLessThan(3000);
    // Connections the kernel queued stay open (the program could still accept them); the rest
    // were given up after the helper's connect timeout, as a reset, not left hanging.
    const counts = ends.reduce<Record<string, number>>((acc, e) => ({ ...acc, [e]: (acc[e] ?? 0) + 1 }), {});
    expect(Object.keys(counts).every((k) => k === 'reset' || k === 'open')).toBe(true);
    expect(counts.reset ?? 0).toBeGreaterThan(250);
  });
});

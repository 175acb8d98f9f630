import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { PROBE } from '../helpers/probe.js';
import { it, lines } from '../helpers/sandboxes.js';

// The default image is the host's own system, read-only; everything else of the host is hidden.
describe('the host is invisible from inside', () => {
  it('no host process appears in /proc', async ({ sandbox }) => {
    const result = await sandbox().run([PROBE, 'ls', '/proc']);
    const pids = lines(result.stdout)
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
    expect(pids).toEqual([1, 2]);
    expect(pids).not.toContain(process.pid);
  });

  it.for([
    { options: {}, expected: 'sandbox' },
    { options: { hostname: 'box-7' }, expected: 'box-7' },
  ])('the hostname is $expected', async ({ options, expected }, { sandbox }) => {
    const result = await sandbox(options).run(['sh', '-c', 'uname -n; cat /proc/sys/kernel/hostname /etc/hostname']);
    expect(result.stdout).toBe(`${expected}\n`.repeat(3));
    expect(hostname()).not.toBe(expected);
  });

  it('the only network interface is lo, and it is up', async ({ sandbox }) => {
    const sb = sandbox();
    const netif = await sb.run([PROBE, 'netif']);
    expect(netif.stdout).toBe('lo up\n');
    const dev = await sb.run(['cat', '/proc/net/dev']);
    const names = lines(dev.stdout)
      .slice(2)
      .map((l) => l.trim().split(':')[0]);
    expect(names).toEqual(['lo']);
  });

  it("loopback carries traffic and none of the host's sockets is visible", async ({ sandbox }) => {
    const sb = sandbox();
    const tcp = await sb.run(['cat', '/proc/net/tcp']);
    expect(lines(tcp.stdout).filter((l) => !/^\s*sl\b/.test(l))).toEqual([]);
    expect((await sb.run([PROBE, 'loopback'])).stdout).toBe('loopback ok\n');
  });

  it('files outside the image are not there', async ({ sandbox, tempDir }) => {
    const dir = tempDir('sandkit-canary-');
    const canary = join(dir, 'canary');
    writeFileSync(canary, 'secret');
    const tmpCanary = join(tmpdir(), `sandkit-canary-${process.pid}`);
    writeFileSync(tmpCanary, 'secret');
    try {
      const sb = sandbox();
      for (const path of [canary, dir, tmpCanary, '/etc/shadow', '/etc/gshadow', '/work', '/etc/sudoers']) {
        const r = await sb.run(['test', '-e', path]);
        expect(r.exitCode, `${path} should be absent inside`).toBe(1);
      }
      for (const path of ['/root', '/home', '/tmp', '/var/tmp', '/run', '/mnt']) {
        const r = await sb.run([PROBE, 'ls', path]);
        expect(r, `${path} should be empty inside`).toMatchObject({ exitCode: 0, stdout: '' });
      }
    } finally {
      rmSync(tmpCanary, { force: true });
    }
  });

  it('the host system is there', async ({ sandbox }) => {
    const result = await sandbox().run(['sh', '-c', 'test -x /bin/sh && grep -c "^root:" /etc/passwd']);
    expect(result.stdout).toBe('1\n');
    expect(readdirSync('/usr/bin').length).toBeGreaterThan(0);
  });
});

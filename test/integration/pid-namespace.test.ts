import { readFileSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { hostProcess } from '../helpers/host.js';
import { PROBE } from '../helpers/probe.js';
import { it, lines, whenSpawned } from '../helpers/sandboxes.js';

// Every spawn runs as PID 2 under sandkit's reaper (PID 1 of a pid namespace of its own).
describe('PID 1 inside a sandbox', () => {
  it('the command is PID 2 and its parent is PID 1', async ({ sandbox }) => {
    const sb = sandbox();
    const shell = await sb.run(['sh', '-c', 'echo $$']);
    expect(shell.stdout).toBe('2\n');
    const probe = await sb.run([PROBE, 'pid']);
    expect(probe.stdout).toBe('pid=2 ppid=1\n');
  });

  it("PID 1 is sandkit's reaper, not the host's init", async ({ sandbox }) => {
    const sb = sandbox();
    const inside = await sb.run(['cat', '/proc/1/cmdline', '/proc/1/comm']);
    expect(inside.exitCode).toBe(0);
    const hostInit = readFileSync('/proc/1/cmdline', 'utf8');
    expect(inside.stdout).not.toContain(hostInit);
    expect(inside.stdout).toMatch(/sandkit/);
  });

  it('/proc lists only the processes of the spawn', async ({ sandbox }) => {
    const sb = sandbox();
    const alone = await sb.run([PROBE, 'ps']);
    expect(lines(alone.stdout).map((l) => l.split(' ')[0])).toEqual(['1']);

    // Wait (with builtins only) until the background child has exec'd sleep.
    const tree = await sb.run([
      'sh',
      '-c',
      `sleep 30 & until read c < /proc/$!/comm && [ "$c" = sleep ]; do :; done; ${PROBE} ps; kill $!`,
    ]);
    const pids = lines(tree.stdout)
      .map((l) => Number(l.split(' ')[0]))
      .sort((a, b) => a - b);
    expect(pids).toEqual([1, 2, 3]); // reaper, sh, sleep (the probe leaves itself out)
    expect(tree.stdout).toMatch(/^3 \S sleep$/m);
  });

  it("a concurrent spawn of the same sandbox does not see the other's processes", async ({ sandbox }) => {
    const sb = sandbox();
    const sleeper = sb.spawn(['sleep', '30']);
    await whenSpawned(sb, sleeper);
    const listing = await sb.run([PROBE, 'ps']);
    expect(lines(listing.stdout).map((l) => l.split(' ')[0])).toEqual(['1']);
    expect(sleeper.exited).toBe(false);
    sleeper.kill('SIGKILL');
    expect((await sleeper).signal).toBe('SIGKILL');
  });

  it('the host sees the command under its own pid, as pid 2 in the nested namespace', async ({ sandbox }) => {
    const sb = sandbox();
    const proc = sb.spawn(['sleep', '30']);
    const pid = await whenSpawned(sb, proc);
    expect(proc.pid).toBe(pid);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const nspid = status
      .match(/^NSpid:\s+(.*)$/m)![1]!
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(nspid[0]).toBe(pid);
    expect(nspid.at(-1)).toBe(2);
    expect(nspid.length).toBeGreaterThanOrEqual(3); // host, sandbox, spawn
    expect(hostProcess(pid)?.cmdline).toEqual(['sleep', '30']);
    proc.kill('SIGKILL');
    await proc;
  });
});

import { spawnSync } from 'node:child_process';
import { watch } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it as plainIt, vi } from 'vitest';
import { helperPath } from '../../src/helper/helper-path.js';
import { requireFeature } from '../helpers/require-feature.js';
import { PROBE } from '../helpers/probe.js';
import { Seccomp } from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';

// Kernel objects the kernel counts per user (ucounts: inotify and fanotify instances, watches,
// namespaces) are charged to the sandbox's uid and, up the chain of user namespaces, to the
// user that owns the sandbox's namespace on the host: the user running the helper (root, or
// you rootless). A sandbox must not be able to use up that user's budget, which Node itself
// and everything else the user runs share.

/** The first line the process prints. */
async function firstLine(p: AsyncIterable<string>): Promise<string> {
  for await (const line of p) return line;
  return '';
}

/** fs.watch in this (host) process: null when it works, else its error code. */
function hostWatch(dir: string): string | null {
  try {
    watch(dir).close();
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

describe('kernel objects charged to the host user', () => {
  it('a sandbox takes at most 32 inotify instances; the host user can still watch files', async ({
    sandbox,
    tempDir,
  }) => {
    const dir = tempDir();
    const sb = sandbox();
    const hog = sb.spawn([PROBE, 'inotify-hold', '1000'], { limits: { wallTime: '30s' } });
    try {
      const line = await firstLine(hog);
      const m = line.match(/^inotify=(\d+) (\S+)$/);
      expect(m, line).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(0);
      expect(Number(m![1])).toBeLessThanOrEqual(32);
      expect(m![2]).toBe('EMFILE');
      // While the sandbox holds all it could get, Node (the same host user) still watches.
      expect(hostWatch(dir)).toBeNull();
    } finally {
      hog.kill('SIGKILL');
      await hog;
    }
  });

  it("the sandbox's user namespace shows its caps, and nothing inside can raise them", async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run([
      'sh',
      '-c',
      'cd /proc/sys/user && for f in max_*; do echo "$f=$(cat $f)"; done; echo 100000 > max_inotify_instances && echo raised',
    ]);
    expect(r.stdout).toContain('max_user_namespaces=8\n');
    expect(r.stdout).toContain('max_inotify_instances=32\n');
    expect(r.stdout).toMatch(/max_mnt_namespaces=1024\n/);
    expect(r.stdout).not.toContain('raised');
  });

  it('user namespaces inside (seccomp allowing unshare): at most 8, then ENOSPC', async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run([PROBE, 'userns-many', '30'], {
      security: { seccomp: Seccomp.default().allow('unshare') },
      limits: { wallTime: '10s' },
    });
    expect(r.stdout).toBe('userns=8 ENOSPC\n');
  });

  // Pending signals are charged to the receiver's uid: a command that held the whole budget
  // left none for the helper's signal forwarding (kill() and wall-time limits did nothing, the
  // spawn never ended) nor for the host user's own processes.
  it('a program that queues every rt signal it can takes at most 4096 and still ends on kill()', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    const hog = sb.spawn([PROBE, 'sigqueue-fill'], { limits: { wallTime: '30s' } });
    const line = await firstLine(hog);
    const m = line.match(/^queued=(\d+) (\S+)$/);
    expect(m, line).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(4096);
    const t0 = Date.now();
    hog.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, 5000, 'timeout'));
    const r = await Promise.race([hog, timeout]);
    expect(r === 'timeout' ? r : r.signal).toBe('SIGTERM');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('POSIX message queues: at most 256 KiB of them per sandbox uid', async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run([PROBE, 'mq-fill'], { limits: { wallTime: '10s' } });
    const m = r.stdout.match(/^mqueues=(\d+) (\S+)$/m);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    // Each queue is charged its 64 KiB of messages plus bookkeeping: three fit in 256 KiB.
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThanOrEqual(4);
    expect(m![2]).toBe('EMFILE');
  });

  it('spawns still get their own pid and mount namespaces, many at once', async ({ sandbox }) => {
    const sb = sandbox();
    const procs = Array.from({ length: 40 }, () => sb.spawn([PROBE, 'sleep', '1500'], { limits: { wallTime: '30s' } }));
    const results = await Promise.all(procs);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 'ok'));
  });
});

// When the budget is used up all the same (many sandboxes of one owner at once), the init's
// sigqueue to a reaper fails with EAGAIN: a kill must still end the spawn. strace injects that
// EAGAIN into the real helper.
describe('kill() when no signal can be queued', () => {
  const wrapper = join(__dirname, '..', 'fixtures', 'strace-helper.sh');
  const hasStrace = spawnSync('strace', ['-V']).status === 0;
  afterEach(() => {
    delete process.env.SANDKIT_HELPER;
    delete process.env.SANDKIT_INJECT;
  });

  plainIt('SIGKILL still ends the spawn (with its reaper)', async (ctx) => {
    requireFeature(ctx, hasStrace, 'needs strace (Debian package strace)');
    process.env.SANDKIT_REAL_HELPER = helperPath();
    process.env.SANDKIT_HELPER = wrapper;
    process.env.SANDKIT_INJECT = 'rt_sigqueueinfo:error=EAGAIN';
    vi.resetModules();
    const { Sandbox } = await import('../../src/index.js');
    const sb = new Sandbox();
    try {
      const p = sb.spawn(['sh', '-c', 'echo up; exec sleep 600']);
      expect(await firstLine(p)).toBe('up');
      p.kill('SIGKILL');
      const r = await Promise.race([p, new Promise<'timeout'>((resolve) => setTimeout(resolve, 10_000, 'timeout'))]);
      expect(r === 'timeout' ? r : r.signal).toBe('SIGKILL');
    } finally {
      await sb.destroy();
    }
  });
});

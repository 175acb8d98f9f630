import { describe, expect, type TestContext } from 'vitest';
import { type Sandbox, probeHost } from '../../src/index.js';
import { DEFAULT_SANDBOX_LIMITS } from '../../src/limits/limits.js';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { PROBE } from '../helpers/probe.js';
import { requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const WRITABLE = ['/', '/tmp', '/run', '/dev/shm'];

/** Size of the filesystem behind each writable place, as the sandbox's statfs sees it. */
async function sizes(sb: Sandbox): Promise<number[]> {
  const r = await sb.run(['sh', '-c', WRITABLE.map((d) => `stat -f -c '%b %S' ${d}`).join('; ')]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [blocks, size] = line.split(' ');
      return Number(blocks) * Number(size);
    });
}

describe('default limits', () => {
  it('one disk budget for /, /tmp, /run and /dev/shm together: ENOSPC once it is spent', async ({ sandbox }) => {
    const sb = sandbox({ limits: { disk: '16M' } });
    // 5 MiB into each place in turn: the fourth write has only ~1 MiB left.
    const script = WRITABLE.map(
      (d, i) => `dd if=/dev/zero of=${d === '/' ? '' : d}/f${i} bs=1M count=5 2>&1 || echo "full at ${d}"`
    ).join('; ');
    const r = await sb.run(['sh', '-c', script]);
    expect(r.stdout).toContain('No space left on device');
    expect(r.stdout).toContain('full at /dev/shm');
    expect(r.stdout).not.toMatch(/full at \/(tmp|run)?"?$/m);
    const used = await sb.run(['sh', '-c', 'du -sck /f0 /tmp/f1 /run/f2 /dev/shm/f3 | tail -1']);
    expect(Number.parseInt(used.stdout, 10) * 1024).toBeLessThanOrEqual(16 * MiB);
    // Freeing space in one place frees it for all.
    expect(
      (await sb.run(['sh', '-c', 'rm /tmp/f1 && dd if=/dev/zero of=/dev/shm/g bs=1M count=4 2>/dev/null && echo ok']))
        .stdout
    ).toBe('ok\n');
  });

  it('without options: 1 GiB shared by the writable layer and the tmpfs mounts', async ({ sandbox }) => {
    const sb = sandbox();
    expect(sb.options.limits).toMatchObject({
      memory: 2 * GiB,
      pids: 4096,
      disk: GiB,
      defaulted: ['memory', 'pids', 'disk'],
    });
    expect(await sizes(sb)).toEqual([GiB, GiB, GiB, GiB]);
    // fallocate takes the pages at once (a sparse file would take none): 700 MiB in /tmp leaves
    // no room for 400 MiB in /dev/shm. Both are freed right after.
    const r = await sb.run([
      'sh',
      '-c',
      'fallocate -l 700M /tmp/a && echo a-ok; fallocate -l 400M /dev/shm/b 2>&1 || echo b-full; rm -f /tmp/a /dev/shm/b',
    ]);
    expect(r.stdout).toContain('a-ok');
    expect(r.stdout).toContain('b-full');
    expect(r.stdout).toContain('No space left on device');
  });

  it('the default pids limit stops forks at 4096', async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run([PROBE, 'forks', '5000'], { limits: { wallTime: '60s' } });
    const m = /forks=(\d+) error=(\w+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(m![2]).toBe('EAGAIN');
    expect(Number(m![1])).toBeLessThan(DEFAULT_SANDBOX_LIMITS.pids);
    expect(Number(m![1])).toBeGreaterThan(DEFAULT_SANDBOX_LIMITS.pids - 64);
    expect((await sb.run(['true'])).status).toBe('ok');
  }, 120_000); // thousands of forks: slow on a loaded machine

  it('the default memory limit holds a memory hog at 2 GiB (with a memory cgroup)', async ({ sandbox, task, skip }) => {
    const avail = cgroupsFor();
    requireFeature(
      { task, skip } as unknown as TestContext,
      avail.ok && avail.tree.plan.controllers.memory !== null,
      'needs a cgroup memory controller (rootless without delegation has none)'
    );
    const sb = sandbox();
    // Just past the default: touching pages is slow on a loaded VM (about 5 s per GiB here).
    const r = await sb.run([PROBE, 'alloc', '2100M'], { limits: { wallTime: '120s' } });
    expect(r.status).not.toBe('ok');
    expect(r.signal).toBe('SIGKILL');
    expect(r.memoryPeakBytes).toBeLessThanOrEqual(2 * GiB + 8 * MiB);
  }, 150_000);

  it("limits: 'unlimited' lifts the defaults", async ({ sandbox }) => {
    const sb = sandbox({ limits: 'unlimited' });
    expect(sb.options.limits).toEqual({});
    const [root, tmp] = await sizes(sb);
    expect(tmp).not.toBe(GiB); // the kernel's default tmpfs size: half the RAM
    expect(root).not.toBe(tmp); // the writable layer is on the host's disk
    const r = await sb.run([PROBE, 'forks', '4200'], { limits: { wallTime: '60s' } });
    expect(r.stdout).toContain('forks=4200 error=ok');
  }, 120_000);

  it('a limit given replaces only its own default', async ({ sandbox }) => {
    const sb = sandbox({ limits: { disk: '2G' } }); // (an explicit pids or memory limit needs cgroups)
    expect(sb.options.limits).toMatchObject({
      memory: 2 * GiB,
      pids: 4096,
      disk: 2 * GiB,
      defaulted: ['memory', 'pids'],
    });
    expect((await sizes(sb))[0]).toBe(2 * GiB);
  });

  it('sandkit doctor says how each default is enforced here', async () => {
    const report = await probeHost();
    const avail = cgroupsFor();
    const memory = avail.ok && avail.tree.plan.controllers.memory;
    expect(report.defaultLimits.memory).toEqual({
      value: '2 GiB',
      enforcedBy: memory ? `cgroup ${memory} memory controller` : 'RLIMIT_AS per process (no cgroup memory controller)',
    });
    expect(report.defaultLimits.pids.value).toBe('4096');
    expect(report.defaultLimits.pids.enforcedBy).toMatch(
      avail.ok && avail.tree.plan.controllers.pids ? /^cgroup v[12] pids/ : /RLIMIT_NPROC/
    );
    expect(report.defaultLimits.disk.value).toBe('1 GiB');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/index.js';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { requireFeature } from '../helpers/require-feature.js';

// The cgroup files and /proc files a spawn reads about its limits (native/src/runtime_view.c):
// read-only, and rooted at the spawn's own cgroup, so no other sandbox or spawn shows there.
describe('the runtime view as an attack surface', () => {
  const avail = cgroupsFor();
  let sandbox: Sandbox;
  let neighbour: Sandbox;
  beforeAll(async () => {
    sandbox = new Sandbox({ limits: avail.ok ? { memory: '256M', cpus: 1 } : { cpuset: [0] } });
    neighbour = new Sandbox();
    await Promise.all([sandbox.start(), neighbour.start()]);
  });
  afterAll(() => Promise.all([sandbox?.destroy(), neighbour?.destroy()]));

  const sh = (script: string) => sandbox.run(['/bin/sh', '-c', script], { limits: { wallTime: '20s' } });

  it("/sys/fs/cgroup shows the spawn's cgroup as the root and nothing beside or above it", async (ctx) => {
    requireFeature(ctx, avail.ok, `no cgroups here: ${avail.ok ? '' : avail.reason}`);
    const busy = neighbour.spawn(['sh', '-c', 'echo up; exec sleep 30']);
    await busy.lines().next(); // the neighbour's spawn has its cgroup now
    try {
      const r = await sh(
        'cat /proc/self/cgroup; if [ -e /sys/fs/cgroup/cgroup.procs ]; then d=1; else d=2; fi; echo dirs=$(find /sys/fs/cgroup -mindepth $d -type d | wc -l); ' +
          'echo top=$(ls /sys/fs/cgroup | tr "\\n" " "); grep -rl sandkit /sys/fs/cgroup 2>/dev/null | head -3'
      );
      expect(r.status, r.stderr).toBe('ok');
      for (const line of r.stdout.split('\n').filter((l) => /^\d+:/.test(l)))
        if (!line.includes('name=')) expect(line).toMatch(/:\/$/);
      // Each hierarchy's root is the spawn's leaf cgroup: no child cgroups, no sandkit-<session>.
      expect(r.stdout).toMatch(/^dirs=0$/m);
      expect(r.stdout).not.toMatch(/sandkit-/);
    } finally {
      busy.kill('SIGKILL');
      await busy;
    }
  });

  it('the cgroup files cannot be written, made or remounted', async (ctx) => {
    requireFeature(ctx, avail.ok, `no cgroups here: ${avail.ok ? '' : avail.reason}`);
    const r = await sh(
      'f=$(ls /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null | head -1); ' +
        'echo max > $f 2>/dev/null && echo wrote; echo 1 > /sys/fs/cgroup/cgroup.procs 2>/dev/null && echo joined; ' +
        'mkdir /sys/fs/cgroup/x 2>/dev/null && echo made; mkdir /sys/x 2>/dev/null && echo sys; ' +
        'mount -o remount,rw /sys/fs/cgroup 2>/dev/null && echo remounted; umount /sys 2>/dev/null && echo unmounted; echo limit=$(cat $f)'
    );
    expect(r.stdout).not.toMatch(/wrote|joined|made|sys|remounted|unmounted/);
    expect(r.stdout).toMatch(/^limit=268435456$/m);
  });

  it("the /proc files laid over the host's cannot be written or unmounted", async () => {
    const r = await sh(
      // The view's files are staged on a tmpfs (rootless without cgroups: no meminfo or swaps;
      // /proc/swaps is then the default mask's /dev/null).
      'for f in meminfo cpuinfo stat swaps loadavg; do grep -q " /proc/$f .* - tmpfs " /proc/self/mountinfo || continue; echo over-$f; ' +
        'echo x > /proc/$f 2>/dev/null && echo wrote-$f; umount /proc/$f 2>/dev/null && echo unmounted-$f; done; ' +
        'echo cpus=$(grep -c ^processor /proc/cpuinfo)'
    );
    expect(r.stdout).not.toMatch(/wrote-|unmounted-/);
    for (const f of ['cpuinfo', 'stat', 'loadavg', ...(avail.ok ? ['meminfo', 'swaps'] : [])])
      expect(r.stdout).toContain(`over-${f}`);
    expect(r.stdout).toMatch(/^cpus=1$/m);
  });
});

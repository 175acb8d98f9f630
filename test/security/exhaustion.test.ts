import { describe, expect, type TestContext } from 'vitest';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { EXHAUST, exhaustMount, taken } from '../helpers/exhaust.js';
import { requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

const MiB = 2 ** 20;

// A sandbox without options, attacked where the writable layer and the tmpfs quota do not
// reach: kernel objects that hold memory outside every mount and every process. Each row
// asks for far more than it may get and checks where it was stopped.
describe('a default sandbox cannot take kernel resources past its limits', () => {
  it('SysV shared memory stops at the disk size in total (segments outlive their processes)', async ({ sandbox }) => {
    const sb = sandbox({ mounts: [exhaustMount()] });
    // 48 segments of 64 MiB = 3 GiB asked; shmget counts them at creation, none is touched.
    const first = taken((await sb.run([EXHAUST, 'shm', '48', '64'])).stdout, 'shm_mib');
    expect(first.error).toBe('ENOSPC');
    expect(first.got).toBeLessThanOrEqual(1024);
    // The segments stay after their creator exits: the next program gets nothing more.
    const again = taken((await sb.run([EXHAUST, 'shm', '1', '64'])).stdout, 'shm_mib');
    expect(again).toEqual({ got: 0, error: 'ENOSPC' });
    const small = sandbox({ mounts: [exhaustMount()], limits: { disk: '64M' } });
    expect(taken((await small.run([EXHAUST, 'shm', '8', '16'])).stdout, 'shm_mib')).toEqual({
      got: 64,
      error: 'ENOSPC',
    });
  });

  it('SysV message queues and semaphores stop at a few MiB of kernel memory', async ({ sandbox }) => {
    const sb = sandbox({ mounts: [exhaustMount()] });
    const queues = taken((await sb.run([EXHAUST, 'msg', '40000'])).stdout, 'msg_queues');
    expect(queues.error).toBe('ENOSPC');
    expect(queues.got).toBeLessThanOrEqual(256);
    const sems = taken((await sb.run([EXHAUST, 'sem', '1000', '250'])).stdout, 'semaphores');
    expect(sems.error).toBe('ENOSPC');
    expect(sems.got).toBeLessThanOrEqual(32_000);
  });

  it('the IPC limits cannot be raised from inside', async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run([
      'sh',
      '-c',
      'echo 18446744073692774399 > /proc/sys/kernel/shmall; cat /proc/sys/kernel/shmall',
    ]);
    expect(r.stderr).toMatch(/Read-only file system|Permission denied/);
    expect(r.stdout.trim()).toBe(String(2 ** 30 / 4096));
  });

  it('ptys: at most 64 per sandbox, so another sandbox still gets its own', async ({ sandbox }) => {
    const hog = sandbox({ mounts: [exhaustMount()] });
    const proc = hog.spawn([EXHAUST, 'ptys', '4000'], { env: { EXHAUST_HOLD: '1' } });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
      proc.then(() => reject(new Error(`exited early: ${out}`)), reject);
    });
    expect(taken(out, 'ptys')).toEqual({ got: 64, error: 'ENOSPC' });
    // The kernel's pool for every non-host devpts (3072 by default) is not used up meanwhile.
    const other = sandbox({ mounts: [exhaustMount()] });
    expect(taken((await other.run([EXHAUST, 'ptys', '16'])).stdout, 'ptys')).toEqual({ got: 16, error: 'ok' });
    proc.kill('SIGKILL');
    await proc;
  });

  it('fds in flight over unix sockets: a program that fills its share leaves the helper room to start and spawn', async ({
    sandbox,
  }) => {
    // The kernel counts SCM_RIGHTS fds in flight per host user, for every process of that user,
    // against the sender's RLIMIT_NOFILE: the init and the supervisor pass fds that way too.
    const hog = sandbox({ mounts: [exhaustMount()] });
    const proc = hog.spawn([EXHAUST, 'inflight', '1000000'], { env: { EXHAUST_HOLD: '1' } });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
      proc.then(() => reject(new Error(`exited early: ${out}`)), reject);
    });
    try {
      const held = taken(out, 'inflight');
      expect(held.error).toBe('ETOOMANYREFS');
      expect(held.got).toBeLessThanOrEqual(4096 + 250);
      // Meanwhile a new sandbox starts and the hog's own sandbox still spawns.
      expect((await sandbox().run(['echo', 'started'])).stdout).toBe('started\n');
      expect((await hog.run(['echo', 'spawned'])).stdout).toBe('spawned\n');
    } finally {
      proc.kill('SIGKILL');
      await proc;
    }
  });

  it('/dev holds a few hundred inodes, not millions (empty files take kernel memory no disk counts)', async ({
    sandbox,
  }) => {
    const sb = sandbox({ mounts: [exhaustMount()] });
    const files = taken((await sb.run([EXHAUST, 'inodes', '5000', '/dev'])).stdout, 'inodes');
    expect(files.error).toBe('ENOSPC');
    expect(files.got).toBeLessThan(256);
  });

  it('memory held outside any address space (memfd) counts toward the default memory limit', async ({
    sandbox,
    task,
    skip,
  }) => {
    const avail = cgroupsFor();
    requireFeature(
      { task, skip } as unknown as TestContext,
      avail.ok && avail.tree.plan.controllers.memory !== null,
      'needs a cgroup memory controller: rootless without one, RLIMIT_AS bounds only mapped memory (docs/limits.md)'
    );
    const sb = sandbox();
    // write() into memfds maps nothing: only the memory cgroup can see these pages.
    const script =
      'import os\nb = b"x" * (1 << 20)\nfds = [os.memfd_create("m") for _ in range(5)]\nfor fd in fds:\n    for _ in range(512): os.write(fd, b)\n    print(len(fds), flush=True)\n';
    const r = await sb.run(['python3', '-c', script], { limits: { wallTime: '60s' } });
    expect(r.signal).toBe('SIGKILL');
    expect(r.memoryPeakBytes).toBeLessThanOrEqual(2 * 2 ** 30 + 8 * MiB);
  }, 90_000);
});

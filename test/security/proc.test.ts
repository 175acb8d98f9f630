import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Image, Sandbox, type SpawnResult } from '../../src/index.js';
import { helperPath } from '../../src/helper/helper-path.js';
import { defaultStateDir } from '../../src/platform/state-dir.js';
import { hostProcess } from '../helpers/host.js';
import { PROBE, probeMount } from '../helpers/probe.js';
import { attackers, expectRefused, hostMode, outcomeOf, type Outcome } from '../helpers/security-outcomes.js';
import { it as withFixtures } from '../helpers/sandboxes.js';

// Set before the first sandbox of this file starts the helper, which inherits SANDKIT_* variables.
const canary = `canary-${randomBytes(12).toString('hex')}`;
process.env.SANDKIT_CANARY = canary;

/** The refused outcomes for a kernel file, plus ENOENT when this host's kernel has no such file. */
function refusedFor(path: string, refused: Outcome[]): Outcome[] {
  return existsSync(path) ? refused : [...refused, 'ENOENT'];
}

/** A read of a kernel file: `empty` (masked: /dev/null or an empty tmpfs), an errno, or `ok` with data. */
function readOutcome(r: SpawnResult): Outcome {
  const o = outcomeOf(r);
  return o === 'ok' && r.stdout === '' ? 'empty' : o;
}

/** A write through `probe try-write`: `masked` when the file is /dev/null, else the first errno or `ok`. */
function writeOutcome(r: SpawnResult): Outcome {
  const m = r.stdout.match(/^open=(\S+) write=(\S+) rdev=(\d+):(\d+)$/m);
  if (!m) return `unexpected output: ${r.stdout} ${r.stderr}`;
  if (m[1] === 'ok' && m[3] === '1' && m[4] === '3') return 'masked';
  return m[1] !== 'ok' ? m[1]! : m[2]!;
}

describe.each(attackers.map((a) => [a.who, a.user] as const))('/proc as an attack surface, as %s', (_who, user) => {
  let sandbox: Sandbox;
  const run = (argv: string[]) => sandbox.run(argv, { user, limits: { wallTime: '10s' } });
  beforeAll(() => {
    sandbox = new Sandbox({ mounts: [probeMount()] });
  });
  afterAll(() => sandbox.destroy());

  it("Node's environment (a canary) is visible nowhere inside: no environ of any process", async () => {
    await sandbox.start();
    // The attack has something to find: the helper, whose forks are the sandbox's PID 1, holds it.
    const supervisor = hostProcess(sandbox.pid!)!.ppid;
    expect(readFileSync(`/proc/${supervisor}/environ`, 'utf8')).toContain(`SANDKIT_CANARY=${canary}`);

    const r = await run([
      'sh',
      '-c',
      'env; for f in /proc/[0-9]*/environ /proc/self/environ /proc/thread-self/environ /proc/1/task/*/environ; do echo "== $f"; cat "$f"; echo; done',
    ]);
    expect(r.stdout).toMatch(/== \/proc\/1\/environ/);
    expect(`${r.stdout}${r.stderr}`).not.toContain(canary);
    expect(`${r.stdout}${r.stderr}`).not.toContain('SANDKIT_');
  });

  it("PID 1's environ (sandkit's reaper, a fork of the helper) cannot be read", async () => {
    const r = await run([PROBE, 'cat', '/proc/1/environ']);
    expect(r.stdout).not.toContain(canary);
    expectRefused(r, ['EACCES', 'EPERM']);
  });

  // The reaper holds sandkit's control socket to the init: its fds and memory must stay closed.
  it.each([
    // (Listing /proc/1/fd is allowed to a root inside that is the host's uid 0, by file
    // ownership; it shows numbers only, and none of them opens.)
    ...[0, 1, 2, 3].map((fd) => ({ argv: ['head', `/proc/1/fd/${fd}`, '1'], what: `open its fd ${fd}` })),
    { argv: ['reopen-write', '/proc/1/fd/0'], what: 'reopen its fd 0 for writing through O_PATH' },
    { argv: ['head', '/proc/1/mem', '1'], what: 'read its memory' },
    { argv: ['head', '/proc/1/maps', '4096'], what: 'read its maps' },
  ])("PID 1 (sandkit's reaper): $what → EACCES | EPERM", async ({ argv }) => {
    expectRefused(await run([PROBE, ...argv]), ['EACCES', 'EPERM']);
  });

  it.each([
    { path: '/proc/kcore', refused: ['empty', 'EPERM', 'EACCES'] },
    { path: '/proc/timer_list', refused: ['empty', 'EPERM', 'EACCES'] },
    { path: '/proc/sched_debug', refused: ['empty', 'EPERM', 'EACCES'] },
    { path: '/proc/keys', refused: ['empty', 'EPERM', 'EACCES'] },
    // Host-wide kernel state: physical pages, slabs, memory zones and I/O ranges, the kernel's
    // configuration, modules and symbols, every user's key quotas, the host's disks, swap
    // files, consoles, command line and boot id.
    ...[
      'kpageflags',
      'kpagecount',
      'kpagecgroup',
      'slabinfo',
      'vmallocinfo',
      'pagetypeinfo',
      'buddyinfo',
      'zoneinfo',
      'config.gz',
      'modules',
      'kallsyms',
      'kmsg',
      'key-users',
      'softirqs',
      'iomem',
      'ioports',
      'mtrr',
      'dma',
      'partitions',
      'diskstats',
      'swaps',
      'consoles',
      'cmdline',
      'sys/kernel/random/boot_id',
    ].map((name) => ({ path: `/proc/${name}`, refused: ['empty', 'EPERM', 'EACCES'] })),
  ])('reading $path: $refused (or ENOENT where the host kernel has none)', async ({ path, refused }) => {
    const r = await run([PROBE, 'head', path, '4096']);
    expect(readOutcome(r), r.stdout.slice(0, 500)).toBeOneOf(refusedFor(path, refused));
  });

  it.each(['/proc/fs', '/proc/bus', '/proc/irq', '/proc/driver', '/proc/acpi', '/proc/scsi'])(
    "%s lists nothing (the host's file systems, buses, IRQs and drivers)",
    async (path) => {
      const r = await run([PROBE, 'ls', path]);
      if (!existsSync(path)) return expectRefused(r, ['ENOENT']);
      expect({ code: r.exitCode, stdout: r.stdout }).toEqual({ code: 0, stdout: '' });
    }
  );

  it('what runtimes read stays readable: meminfo, cpuinfo, stat, uptime, loadavg, filesystems, self/status', async () => {
    for (const path of [
      '/proc/meminfo',
      '/proc/cpuinfo',
      '/proc/stat',
      '/proc/uptime',
      '/proc/loadavg',
      '/proc/filesystems',
      '/proc/self/status',
    ]) {
      const r = await run([PROBE, 'head', path, '64']);
      expect(readOutcome(r), path).toBe('ok');
    }
  });

  it("the mount table names no host path: not the state directory, the session or the sandbox's directory", async () => {
    const r = await run([PROBE, 'cat', '/proc/self/mountinfo']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/ \/ \/ .* - overlay overlay /);
    for (const leak of [defaultStateDir(), '/sessions/', 'upperdir=/', 'lowerdir=/', 'workdir=/', '-layer'])
      expect(r.stdout, leak).not.toContain(leak);
  });

  it("/etc/passwd and /etc/group of the host image list root and nobody, not the host's users", async () => {
    const r = await run(['sh', '-c', 'cut -d: -f1 /etc/passwd; echo --; cut -d: -f1 /etc/group']);
    expect(r.stdout).toBe('root\nnobody\n--\nroot\nnogroup\n');
  });

  it('/proc/kallsyms shows no kernel address: all zeros, empty or unreadable', async () => {
    const r = await run([PROBE, 'head', '/proc/kallsyms', '1048576']);
    const outcome = readOutcome(r);
    if (outcome === 'ok') {
      const addresses = new Set(
        r.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ')[0])
      );
      expect([...addresses]).toEqual(['0000000000000000']);
    } else {
      expect(outcome).toBeOneOf(['empty', 'EPERM', 'EACCES']);
    }
  });

  it.each([
    // 'h' only prints the SysRq help to the kernel log, should the write get through.
    { path: '/proc/sysrq-trigger', text: () => 'h', watch: '/proc/sys/kernel/sysrq' },
    // The host's own value written back: harmless even if it got through.
    {
      path: '/proc/sys/kernel/core_pattern',
      text: () => readFileSync('/proc/sys/kernel/core_pattern', 'utf8'),
      watch: '/proc/sys/kernel/core_pattern',
    },
    {
      path: '/proc/sys/kernel/modprobe',
      text: () => readFileSync('/proc/sys/kernel/modprobe', 'utf8'),
      watch: '/proc/sys/kernel/modprobe',
    },
  ])(
    'writing $path is refused: read-only, masked or denied (ENOENT where the host kernel has none)',
    async ({ path, text, watch }) => {
      const hostValue = () => (existsSync(watch) ? readFileSync(watch, 'utf8') : undefined);
      const before = hostValue();
      const r = await run([PROBE, 'try-write', path, existsSync(path) ? text() : 'x']);
      expect(writeOutcome(r), r.stdout + r.stderr).toBeOneOf(refusedFor(path, ['masked', 'EROFS', 'EACCES', 'EPERM']));
      expect(hostValue()).toBe(before);
    }
  );

  describe("sandkit's helper binary (the exe of PID 1) cannot be reached for writing", () => {
    const helper = helperPath();
    const digest = () => createHash('sha256').update(readFileSync(helper)).digest('hex');
    let before: string;
    beforeAll(() => {
      before = digest();
    });
    afterAll(() => {
      expect(digest()).toBe(before);
    });

    it.each([
      { action: 'open-write', path: '/proc/1/exe', how: 'open O_WRONLY' },
      { action: 'reopen-write', path: '/proc/1/exe', how: 'O_PATH, then /proc/self/fd/N O_WRONLY' },
      { action: 'open-write', path: '/proc/1/task/1/exe', how: 'open O_WRONLY through the task' },
    ])('$path: $how → EACCES | EPERM | ETXTBSY', async ({ action, path }) => {
      expectRefused(await run([PROBE, action, path]), ['EACCES', 'EPERM', 'ETXTBSY']);
    });
  });
});

describe.each(attackers.map((a) => [a.who, a.user] as const))(
  "PID 1's root and cwd lead nowhere outside, as %s",
  (_who, user) => {
    withFixtures.for(['/proc/1/root', '/proc/1/cwd'])(
      '%s: a host file behind it is unreachable',
      async (link, { sandbox, tempDir }) => {
        const dir = tempDir('sandkit-secret-');
        writeFileSync(join(dir, 'secret'), canary);
        const sb = sandbox();
        const run = (argv: string[]) => sb.run(argv, { user, limits: { wallTime: '10s' } });
        for (const path of [
          `${link}${dir}/secret`,
          `${link}/../../..${dir}/secret`,
          `${link}/../../../proc/1/environ`,
        ]) {
          const r = await run([PROBE, 'cat', path]);
          expect(r.stdout, path).not.toContain(canary);
          expectRefused(r, ['ENOENT', 'EACCES']);
        }
        // If it can be listed at all, it is the sandbox's own root, not the host's.
        const listed = await run([PROBE, 'ls', `${link}/`]);
        if (listed.exitCode === 0) {
          expect(listed.stdout.split('\n')).not.toContain('work');
          expect(listed.stdout).toBe((await run([PROBE, 'ls', '/'])).stdout);
        } else {
          expectRefused(listed, ['EACCES']);
        }
      }
    );
  }
);

describe('a host image with accounts of its own', () => {
  withFixtures(
    'lists them in /etc/passwd and /etc/group (and a spawn can run as one, root host)',
    async ({ sandbox }) => {
      const sb = sandbox({
        image: Image.host({
          users: [{ name: 'judge', uid: 1000, home: '/home/judge' }],
          groups: [
            { name: 'judge', gid: 1000 },
            { name: 'runners', gid: 2000, members: ['judge'] },
          ],
        }),
      });
      const r = await sb.run(['sh', '-c', 'cat /etc/passwd /etc/group']);
      expect(r.stdout).toBe(
        [
          'root:x:0:0:root:/root:/bin/sh',
          'judge:x:1000:1000:judge:/home/judge:/usr/sbin/nologin',
          'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
          'root:x:0:',
          'judge:x:1000:',
          'runners:x:2000:judge',
          'nogroup:x:65534:',
          '',
        ].join('\n')
      );
      if (hostMode === 'root')
        expect((await sb.run([PROBE, 'ids'], { user: 'judge' })).stdout).toMatch(
          /^uid=1000 gid=1000 euid=1000 egid=1000 groups=2000\b/
        );
    }
  );
});

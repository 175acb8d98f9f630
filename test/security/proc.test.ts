import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, type SpawnResult } from '../../src/index.js';
import { helperPath } from '../../src/helper/helper-path.js';
import { hostProcess } from '../helpers/host.js';
import { PROBE, probeMount } from '../helpers/probe.js';
import { attackers, expectRefused, outcomeOf, type Outcome } from '../helpers/security-outcomes.js';
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

    const r = await run(['sh', '-c', 'env; for f in /proc/[0-9]*/environ /proc/self/environ /proc/thread-self/environ /proc/1/task/*/environ; do echo "== $f"; cat "$f"; echo; done']);
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
  ])('reading $path: $refused (or ENOENT where the host kernel has none)', async ({ path, refused }) => {
    const r = await run([PROBE, 'head', path, '4096']);
    expect(readOutcome(r), r.stdout.slice(0, 500)).toBeOneOf(refusedFor(path, refused));
  });

  it('/proc/kallsyms shows no kernel address: all zeros, empty or unreadable', async () => {
    const r = await run([PROBE, 'head', '/proc/kallsyms', '1048576']);
    const outcome = readOutcome(r);
    if (outcome === 'ok') {
      const addresses = new Set(r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0]));
      expect([...addresses]).toEqual(['0000000000000000']);
    } else {
      expect(outcome).toBeOneOf(['empty', 'EPERM', 'EACCES']);
    }
  });

  it.each([
    // 'h' only prints the SysRq help to the kernel log, should the write get through.
    { path: '/proc/sysrq-trigger', text: () => 'h', watch: '/proc/sys/kernel/sysrq' },
    // The host's own value written back: harmless even if it got through.
    { path: '/proc/sys/kernel/core_pattern', text: () => readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), watch: '/proc/sys/kernel/core_pattern' },
    { path: '/proc/sys/kernel/modprobe', text: () => readFileSync('/proc/sys/kernel/modprobe', 'utf8'), watch: '/proc/sys/kernel/modprobe' },
  ])('writing $path is refused: read-only, masked or denied (ENOENT where the host kernel has none)', async ({ path, text, watch }) => {
    const hostValue = () => (existsSync(watch) ? readFileSync(watch, 'utf8') : undefined);
    const before = hostValue();
    const r = await run([PROBE, 'try-write', path, existsSync(path) ? text() : 'x']);
    expect(writeOutcome(r), r.stdout + r.stderr).toBeOneOf(refusedFor(path, ['masked', 'EROFS', 'EACCES', 'EPERM']));
    expect(hostValue()).toBe(before);
  });

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

describe.each(attackers.map((a) => [a.who, a.user] as const))("PID 1's root and cwd lead nowhere outside, as %s", (_who, user) => {
  withFixtures.for(['/proc/1/root', '/proc/1/cwd'])('%s: a host file behind it is unreachable', async (link, { sandbox, tempDir }) => {
    const dir = tempDir('sandkit-secret-');
    writeFileSync(join(dir, 'secret'), canary);
    const sb = sandbox();
    const run = (argv: string[]) => sb.run(argv, { user, limits: { wallTime: '10s' } });
    for (const path of [`${link}${dir}/secret`, `${link}/../../..${dir}/secret`, `${link}/../../../proc/1/environ`]) {
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
  });
});

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, type SandboxProcess } from '../../src/index.js';
import { PROBE, probeMount } from '../helpers/probe.js';
import { attackers, expectRefused, outcomeOf } from '../helpers/security-outcomes.js';

/** Resolves once a long-running probe has printed `word` on its stdout. */
async function untilPrinted(proc: SandboxProcess, word: string): Promise<void> {
  let seen = '';
  for await (const chunk of proc.stdout!) {
    seen += String(chunk);
    if (seen.includes(word)) return;
  }
  throw new Error(`the probe ended before printing ${word}: ${seen}`);
}

// Sandbox A holds things (files, a socket, SysV IPC, a lock); sandbox B, the attacker, must not
// reach them. Each row first checks that another spawn of A does reach them, so the row can fail.
describe.each(attackers.map((a) => [a.who, a.user] as const))(
  "another sandbox's resources are out of reach, as %s",
  (_who, user) => {
    let a: Sandbox;
    let b: Sandbox;
    const held: SandboxProcess[] = [];
    const tag = randomBytes(6).toString('hex');
    const inA = (argv: string[]) => a.run(argv, { limits: { wallTime: '10s' } });
    const inB = (argv: string[]) => b.run(argv, { user, limits: { wallTime: '10s' } });
    /** Starts a long-running probe in A (as A's root) and waits for its "ready" word. */
    const holdInA = async (argv: string[], word: string) => {
      const proc = a.spawn(argv, { stdin: 'ignore' });
      held.push(proc);
      await untilPrinted(proc, word);
    };

    beforeAll(() => {
      a = new Sandbox({ mounts: [probeMount()] });
      b = new Sandbox({ mounts: [probeMount()] });
    });
    afterAll(async () => {
      for (const p of held) p.kill('SIGKILL');
      await Promise.all([a.destroy(), b.destroy()]);
    });

    it.each(['/tmp', '/var/tmp', '/dev/shm', '/run', '/etc'])('a file A writes in %s is not in B', async (dir) => {
      const path = `${dir}/from-a-${tag}`;
      expect((await inA([PROBE, 'write', path, 'secret\n'])).exitCode).toBe(0);
      expect((await inA([PROBE, 'cat', path])).stdout).toBe('secret\n');
      expectRefused(await inB([PROBE, 'cat', path]), ['ENOENT']);
    });

    it("A's abstract unix socket is unreachable from B", async () => {
      await holdInA([PROBE, 'listen-unix', `@a-${tag}`], 'listening');
      expect(outcomeOf(await inA([PROBE, 'connect-unix', `@a-${tag}`]))).toBe('ok');
      expectRefused(await inB([PROBE, 'connect-unix', `@a-${tag}`]), ['ECONNREFUSED']);
    });

    it("A's unix socket file in /tmp is not there in B", async () => {
      await holdInA([PROBE, 'listen-unix', `/tmp/sock-${tag}`], 'listening');
      expect(outcomeOf(await inA([PROBE, 'connect-unix', `/tmp/sock-${tag}`]))).toBe('ok');
      expectRefused(await inB([PROBE, 'connect-unix', `/tmp/sock-${tag}`]), ['ENOENT']);
    });

    it("A's SysV shared memory and message queue do not exist for B (own IPC namespace)", async () => {
      const key = String(0x5a00_0000 + Number.parseInt(tag.slice(0, 6), 16));
      expect((await inA([PROBE, 'ipc-create', key])).exitCode).toBe(0);
      expect(outcomeOf(await inA([PROBE, 'ipc-find', key]))).toBe('ok');
      expectRefused(await inB([PROBE, 'ipc-find', key]), ['ENOENT']);
      expect((await inB(['cat', '/proc/sysvipc/shm', '/proc/sysvipc/msg'])).stdout).not.toMatch(
        new RegExp(`\\b${key}\\b`)
      );
    });

    it("A's lock on a file of the shared host image does not block B (per-sandbox /usr inodes)", async () => {
      await holdInA([PROBE, 'flock', '/usr/bin/env', 'hold'], 'locked');
      // Another spawn of A is refused: the lock is real, so this row can fail.
      expectRefused(await inA([PROBE, 'flock', '/usr/bin/env']), ['EAGAIN', 'EWOULDBLOCK']);
      expect((await inB([PROBE, 'flock', '/usr/bin/env'])).stdout).toBe('locked\n');
    });

    it("A's file lock neither shows in B's /proc/locks nor blocks B", async () => {
      const path = `/tmp/lock-${tag}`;
      await holdInA([PROBE, 'lock', path], 'locked');
      const inode = (await inA(['stat', '-c', '%i', path])).stdout.trim();
      expect(inode).toMatch(/^\d+$/);
      expect(readFileSync('/proc/locks', 'utf8'), 'the host sees the lock').toMatch(new RegExp(`:${inode} `));
      const locks = await inB(['cat', '/proc/locks']);
      expect(locks.stdout).not.toMatch(new RegExp(`:${inode} `));
      // B locks the same path at once: it is B's own file.
      const bLock = b.spawn([PROBE, 'lock', path], { user, stdin: 'ignore' });
      held.push(bLock);
      await untilPrinted(bLock, 'locked');
    });
  }
);

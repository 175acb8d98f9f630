import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/index.js';
import { isAlive } from '../helpers/host.js';
import { PROBE, probeMount } from '../helpers/probe.js';
import { attackers, expectRefused } from '../helpers/security-outcomes.js';

// Processes outside the spawn: its PID 1 (sandkit's reaper) and the host's processes.
describe.each(attackers.map((a) => [a.who, a.user] as const))(
  'other processes are out of reach, as %s',
  (_who, user) => {
    let sandbox: Sandbox;
    let hostSleeper: ChildProcess;
    const run = (argv: string[], stdin: 'ignore' | 'pipe' = 'ignore') =>
      sandbox.run(argv, { user, stdin, limits: { wallTime: '10s' } });
    beforeAll(() => {
      sandbox = new Sandbox({ mounts: [probeMount()] });
      // A host process of the same host user as the sandbox's root: a kill would be allowed by uid.
      hostSleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    });
    afterAll(async () => {
      hostSleeper.kill('SIGKILL');
      await sandbox.destroy();
    });

    it.each([
      { signal: 9, name: 'SIGKILL' },
      { signal: 19, name: 'SIGSTOP' },
    ])('kill(1, $name) leaves PID 1 running: the spawn ends normally', async ({ signal }) => {
      // A killed reaper ends the spawn with SIGKILL; a stopped one never reaps it (wall-time-limit).
      // (Other signals are the reaper's to forward to the command, by design.)
      const r = await run(['sh', '-c', `${PROBE} kill 1 ${signal}; ${PROBE} pid`]);
      expect(r.status, r.stderr).toBe('ok');
      expect(r.stdout).toMatch(/^kill=(ok|EPERM)\npid=\d+ ppid=\d+\n$/);
    });

    it('a host pid is not there: kill and kill 0 → ESRCH, ptrace → ESRCH (or EPERM by the filter), and it lives on', async () => {
      const pids = [hostSleeper.pid!, process.pid];
      for (const pid of pids) {
        expectRefused(await run([PROBE, 'kill', String(pid), '0']), ['ESRCH']);
        expectRefused(await run([PROBE, 'kill', String(pid), '9']), ['ESRCH']);
        expectRefused(await run([PROBE, 'ptrace', String(pid)]), ['ESRCH', 'EPERM']);
      }
      expect(isAlive(hostSleeper.pid!)).toBe(true);
    });

    it('kill(-1, SIGKILL) reaches nothing outside the spawn', async () => {
      const r = await run(['sh', '-c', `${PROBE} kill -1 9; echo survived`]);
      expect(r.stdout).not.toContain('survived'); // the shell itself is fair game
      expect(isAlive(hostSleeper.pid!)).toBe(true);
      expect(isAlive(process.pid)).toBe(true);
      expect((await run([PROBE, 'pid'])).status).toBe('ok'); // and the sandbox still works
    });

    it.each(['pipe', 'ignore'] as const)(
      'with stdin %s, only fds 0-2 are open in the command, none a host file',
      async (stdin) => {
        const r = await run([PROBE, 'fds'], stdin);
        const fds = r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(' '));
        expect(fds.map(([fd]) => fd)).toEqual(['0', '1', '2']);
        for (const [, target] of fds) expect(target).toMatch(/^(socket:\[\d+\]|\/dev\/null)$/);
      }
    );

    it('a shell and its children inherit no other fd either', async () => {
      const r = await run(['sh', '-c', `${PROBE} fds`]);
      expect(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(' ')[0])
      ).toEqual(['0', '1', '2']);
    });

    it.each([
      // stdin is a socket (or /dev/null), never a terminal of the host.
      { target: '0', refused: ['ENOTTY', 'EPERM', 'EIO'] },
      // The command is a session leader without a controlling terminal.
      { target: '/dev/tty', refused: ['ENXIO', 'EPERM', 'EIO'] },
    ])('TIOCSTI on $target cannot push input into a host terminal → $refused', async ({ target, refused }) => {
      expectRefused(await run([PROBE, 'tiocsti', target], 'pipe'), refused);
    });
  }
);

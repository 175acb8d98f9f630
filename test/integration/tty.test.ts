import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { dist } from '../helpers/dist.js';
import { it } from '../helpers/sandboxes.js';
import { SandboxOptionsError, type SandboxProcess } from '../../src/index.js';

/** Resolves once the program's terminal output contains `text`. */
function output(proc: SandboxProcess, text: string): Promise<void> {
  let seen = '';
  return new Promise((resolve) => {
    const on = (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        proc.stdout.off('data', on);
        resolve();
      }
    };
    proc.stdout.on('data', on);
  });
}

describe('spawn with a terminal (tty)', () => {
  it("gives the program a terminal of the sandbox's devpts as 0-2, its controlling terminal", async ({ sandbox }) => {
    const sb = sandbox();
    const r = await sb.run(
      [
        'sh',
        '-c',
        'test -t 0 && test -t 1 && test -t 2 && echo tty; tty; stty size; awk "{ print (\\$7 != 0) }" /proc/self/stat; echo err >&2; exit 3',
      ],
      { tty: { cols: 100, rows: 30 } }
    );
    expect(r).toMatchObject({ status: 'nonzero-exit', exitCode: 3, stderr: '' });
    // The terminal turns \n into \r\n; stderr is the same terminal.
    expect(r.stdout).toBe('tty\r\n/dev/pts/0\r\n30 100\r\n1\r\nerr\r\n');
  });

  it('resize() changes the size the program sees; stdin goes through the line discipline', async ({ sandbox }) => {
    const proc = sandbox().spawn(['sh', '-c', 'stty size; echo ready; read line; echo "got $line"; stty size'], {
      tty: true,
    });
    await output(proc, 'ready');
    expect(proc.resize(132, 43)).toBe(true);
    proc.stdin.write('hello\n');
    const r = await proc;
    expect(r.stdout).toBe('24 80\r\nready\r\nhello\r\ngot hello\r\n43 132\r\n');
    expect(proc.resize(10, 10)).toBe(false); // it has ended
  });

  it('^C on the terminal is SIGINT for the foreground program', async ({ sandbox }) => {
    const proc = sandbox().spawn(['sh', '-c', 'echo ready; exec sleep 100'], { tty: true });
    await output(proc, 'ready');
    proc.stdin.write('\x03');
    expect(await proc).toMatchObject({ status: 'signaled', signal: 'SIGINT' });
  });

  it('terminal output counts against limits.output', async ({ sandbox }) => {
    const r = await sandbox().run(['yes'], { tty: true, limits: { output: 5000 } });
    expect(r).toMatchObject({ status: 'output-limit', limitExceeded: 'output' });
    expect(r.stdout.length).toBe(5000);
  });

  it('a flood on the terminal that Node does not read blocks the program, not Node', async ({ sandbox }) => {
    const proc = sandbox().spawn(['sh', '-c', 'yes | head -c 50000000; echo done'], { tty: true, maxBuffer: 0 });
    let bytes = 0;
    proc.stdout.on('data', (d: Buffer) => (bytes += d.length));
    const r = await proc;
    expect(r.exitCode).toBe(0);
    expect(bytes).toBeGreaterThan(50_000_000);
  });

  it.for([
    [{ tty: { cols: 0 } }, 'tty.cols'],
    [{ tty: { rows: 70000 } }, 'tty.rows'],
    [{ tty: { width: 1 } }, 'tty.width'],
    [{ tty: 'yes' }, 'tty'],
    [{ tty: true, stdout: 'ignore' }, 'tty'],
    [{ tty: true, stdin: { path: '/etc/passwd' } }, 'tty'],
  ] as const)('%j is refused naming %s', ([options, field], { sandbox }) => {
    const sb = sandbox();
    expect(() => sb.spawn(['true'], options as never)).toThrow(SandboxOptionsError);
    try {
      sb.spawn(['true'], options as never);
    } catch (err) {
      expect((err as SandboxOptionsError).field).toBe(field);
    }
  });

  it('resize() without a terminal is false; a bad size throws', async ({ sandbox }) => {
    const proc = sandbox().spawn(['true']);
    expect(proc.resize(80, 24)).toBe(false);
    expect(() => proc.resize(0, 24)).toThrow(/cols/);
    await proc;
  });
});

/** Runs `shell` under `script` (a terminal for the CLI), writing `keys` once `waitFor` appears. */
function underScript(shell: string, keys?: { waitFor: string; send: string }): Promise<string> {
  const child = spawn('script', ['-qfec', shell, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  let out = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (keys && !sent && out.includes(keys.waitFor)) {
      sent = true;
      child.stdin.write(keys.send);
    }
  });
  return new Promise((resolve) => child.once('close', () => resolve(out)));
}

describe('sandkit run -it', { timeout: 60_000 }, () => {
  const cli = `${process.execPath} ${dist.cli}`;

  it('gives the program a terminal, passes its exit code and restores the host terminal', async () => {
    const out = await underScript(
      `stty -g; ${cli} run -it -- sh -c 'test -t 0 && echo in-a-tty; exit 5'; echo "rc=$?"; stty -g`
    );
    const lines = out.split(/\r*\n/);
    expect(lines).toContain('in-a-tty');
    expect(lines).toContain('rc=5');
    const settings = lines.filter((l) => /^[0-9a-f]+(:[0-9a-f]+){10,}$/.test(l));
    expect(settings).toHaveLength(2);
    expect(settings[1]).toBe(settings[0]); // raw mode is gone again
  });

  it('^C goes to the program as a key (exit 130) and the host terminal comes back', async () => {
    const out = await underScript(
      `stty -g; ${cli} run -it -- sh -c 'echo ready; exec sleep 100'; echo "rc=$?"; stty -g`,
      { waitFor: 'ready', send: '\x03' }
    );
    const lines = out.split(/\r*\n/);
    expect(out).toMatch(/\^Crc=130\r\n/); // the program's terminal echoed the key
    const settings = lines.filter((l) => /^[0-9a-f]+(:[0-9a-f]+){10,}$/.test(l));
    expect(settings[1]).toBe(settings[0]);
  });

  it('the host terminal comes back when sandkit itself fails', async () => {
    const out = await underScript(`stty -g; ${cli} run -it no-such-image-xyz -- true; echo "rc=$?"; stty -g`);
    const lines = out.split(/\r*\n/);
    expect(lines).toContain('rc=125');
    const settings = lines.filter((l) => /^[0-9a-f]+(:[0-9a-f]+){10,}$/.test(l));
    expect(settings[1]).toBe(settings[0]);
  });

  it('a change of the host window reaches the program (tmux)', async ({ tempDir }) => {
    const dir = tempDir();
    const socket = `${dir}/tmux`;
    // Its own shell (a user such as nobody has nologin) and a pane that stays to show an error.
    writeFileSync(`${dir}/tmux.conf`, 'set -g default-shell /bin/sh\nset -g remain-on-exit on\n');
    const tmux = (...args: string[]) =>
      spawnSync('tmux', ['-S', socket, '-f', `${dir}/tmux.conf`, ...args], {
        encoding: 'utf8',
        env: { ...process.env, SHELL: '/bin/sh' },
      });
    const screen = () => tmux('capture-pane', '-p', '-t', 'run').stdout;
    const until = async (text: string) => {
      for (let i = 0; i < 200 && !screen().includes(text); i++) await new Promise((r) => setTimeout(r, 100));
      return screen();
    };
    try {
      const made = tmux(
        'new-session',
        '-d',
        '-s',
        'run',
        '-x',
        '100',
        '-y',
        '30',
        `${cli} run -it -- sh -c 'echo "size $(stty size)"; read x; echo "size $(stty size)"; read x'`
      );
      expect(made.status, made.stderr).toBe(0);
      expect(await until('size 30 100')).toContain('size 30 100');
      tmux('resize-window', '-t', 'run', '-x', '120', '-y', '40');
      tmux('send-keys', '-t', 'run', 'Enter');
      expect(await until('size 40 120')).toContain('size 40 120');
      tmux('send-keys', '-t', 'run', 'Enter');
    } finally {
      tmux('kill-server');
    }
  });
});

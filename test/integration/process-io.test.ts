import { Readable } from 'node:stream';
import { afterEach, describe, expect } from 'vitest';
import { PROBE } from '../helpers/probe.js';
import { it, lines } from '../helpers/sandboxes.js';
import { SandboxSetupError } from '../../src/index.js';

function envOf(stdout: string): Record<string, string> {
  return Object.fromEntries(lines(stdout).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('standard streams', () => {
  it('stdout and stderr arrive on their streams and in the result', async ({ sandbox }) => {
    const proc = sandbox().spawn(['sh', '-c', 'echo out; echo err >&2; echo out2']);
    const seen = { out: '', err: '' };
    proc.stdout.on('data', (d: Buffer) => {
      seen.out += d;
    });
    proc.stderr.on('data', (d: Buffer) => {
      seen.err += d;
    });
    const result = await proc;
    expect(seen).toEqual({ out: 'out\nout2\n', err: 'err\n' });
    expect(result).toMatchObject({ stdout: 'out\nout2\n', stderr: 'err\n', exitCode: 0, status: 'ok' });
  });

  it("stdin 'pipe': what is written reaches the program, end() sends EOF", async ({ sandbox }) => {
    const proc = sandbox().spawn(['cat']);
    proc.stdin.write('hello ');
    proc.stdin.end('world');
    expect((await proc).stdout).toBe('hello world');
  });

  it.for<[string, string | Uint8Array | (() => Readable), string]>([
    ['a string', 'abc\n', '4\nabc\n'],
    ['a Buffer', Buffer.from('héllo\n'), '7\nhéllo\n'],
    ['a Uint8Array', new Uint8Array([0x61, 0x0a]), '2\na\n'],
    ['a readable stream', () => Readable.from(['x', 'y', 'z\n']), '4\nxyz\n'],
    ['an empty string', '', '0\n'],
  ])('stdin as %s', async ([, input, expected], { sandbox }) => {
    const stdin = typeof input === 'function' ? input() : input;
    const result = await sandbox().run(['sh', '-c', 'cat > /tmp/in; wc -c < /tmp/in; cat /tmp/in'], { stdin });
    expect(result.stdout).toBe(expected);
  });

  it('large stdin arrives whole; a program that stops reading still completes', async ({ sandbox }) => {
    const sb = sandbox();
    const big = await sb.run(['wc', '-c'], { stdin: Buffer.alloc(10 * 2 ** 20, 0x62) });
    expect(big.stdout).toBe(`${10 * 2 ** 20}\n`);
    function* endless() {
      for (;;) yield Buffer.alloc(65536, 0x61);
    }
    const head = await sb.run(['head', '-c', '5'], { stdin: Readable.from(endless()) });
    expect(head).toMatchObject({ exitCode: 0, stdout: 'aaaaa' });
    const unread = await sb.spawn(['true']); // stdin 'pipe', never ended
    expect(unread.exitCode).toBe(0);
  });

  it("stdin 'ignore' is /dev/null, and run() ignores stdin by default", async ({ sandbox }) => {
    const sb = sandbox();
    const ignored = await sb.run(['readlink', '/proc/self/fd/0'], { stdin: 'ignore' });
    expect(ignored.stdout).toBe('/dev/null\n');
    const byDefault = await sb.run(['cat']);
    expect(byDefault).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it.for([
    ['stdout', 'stderr', 1, 2],
    ['stderr', 'stdout', 2, 1],
  ] as const)(
    "%s 'ignore' is /dev/null and gives an empty result",
    async ([ignored, kept, ignoredFd, keptFd], { sandbox }) => {
      // Through $(...): dash applies a redirection to itself before forking, which would change $$'s fds.
      const script = `fds=$(readlink /proc/$$/fd/${ignoredFd} /proc/$$/fd/${keptFd}); echo "$fds" >&${keptFd}; echo x >&${ignoredFd}`;
      const result = await sandbox().run(['sh', '-c', script], { [ignored]: 'ignore' });
      expect(result[ignored]).toBe('');
      expect(result[kept]).toMatch(/^\/dev\/null\nsocket:\[\d+\]\n$/);
    }
  );

  it('the program gets exactly fds 0, 1 and 2', async ({ sandbox }) => {
    const result = await sandbox().run([PROBE, 'fds']);
    expect(lines(result.stdout).map((l) => l.split(' ')[0])).toEqual(['0', '1', '2']);
  });

  it('the process is used as a Promise: finally() runs once it ends, catch() gets a spawn that failed', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    let ran = 0;
    const r = await sb.spawn(['sh', '-c', 'exit 4']).finally(() => ran++);
    expect(r.exitCode).toBe(4);
    expect(ran).toBe(1);
    const failed = await sb.spawn(['true'], { cwd: '/no/such/dir' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(SandboxSetupError);
    expect((failed as Error).message).toContain('/no/such/dir');
  });

  it('the process is async-iterable by lines', async ({ sandbox }) => {
    const proc = sandbox().spawn(['printf', 'a\\nb\\n\\nc']);
    const seen: string[] = [];
    for await (const line of proc) seen.push(line);
    expect(seen).toEqual(['a', 'b', '', 'c']);
    expect((await proc).exitCode).toBe(0);
  });

  it('maxBuffer keeps the first bytes and marks the result truncated', async ({ sandbox }) => {
    const sb = sandbox();
    const big = await sb.run(['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a; echo e >&2'], { maxBuffer: 1000 });
    expect(big.stdout).toBe('a'.repeat(1000));
    expect(big).toMatchObject({ stdoutTruncated: true, stderrTruncated: false, stderr: 'e\n', exitCode: 0 });
    const whole = await sb.run(['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a']);
    expect(whole.stdout.length).toBe(100000);
    expect(whole.stdoutTruncated).toBe(false);
  });
});

describe('environment and working directory', () => {
  const canary = 'SANDKIT_CANARY_SECRET';
  afterEach(() => {
    delete process.env[canary];
  });

  it("the host's environment does not leak; the defaults are PATH, HOME and TERM", async ({ sandbox }) => {
    process.env[canary] = 'do-not-leak';
    const result = await sandbox().run(['env']);
    const env = envOf(result.stdout);
    expect(env).not.toHaveProperty(canary);
    expect(result.stdout).not.toContain('do-not-leak');
    expect(env).toEqual({
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      TERM: 'xterm',
    });
  });

  it("the sandbox's env, then the spawn's env, override the defaults", async ({ sandbox }) => {
    const sb = sandbox({ env: { A: 'sandbox', B: 'sandbox', TERM: 'dumb' } });
    const env = envOf((await sb.run(['env'], { env: { B: 'spawn', C: 'with = and spaces', HOME: '/tmp' } })).stdout);
    expect(env).toMatchObject({ A: 'sandbox', B: 'spawn', C: 'with = and spaces', TERM: 'dumb', HOME: '/tmp' });
  });

  it('PATH from env is used to find the program', async ({ sandbox }) => {
    const result = await sandbox().run(['probe', 'pid'], { env: { PATH: '/' } });
    expect(result.stdout).toBe('pid=2 ppid=1\n');
  });

  it.for([
    [undefined, undefined, '/'],
    ['/etc', undefined, '/etc'],
    [undefined, '/tmp', '/tmp'],
    ['/etc', '/usr/bin', '/usr/bin'],
  ])('sandbox cwd %s, spawn cwd %s → %s', async ([sandboxCwd, spawnCwd, expected], { sandbox }) => {
    const sb = sandbox(sandboxCwd ? { cwd: sandboxCwd } : {});
    const result = await sb.run(['pwd'], spawnCwd ? { cwd: spawnCwd } : {});
    expect(result.stdout).toBe(`${expected}\n`);
  });
});

import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { sessionFor } from '../../src/platform/sessions.js';
import { describe, expect } from 'vitest';
import { SandboxOptionsError, SandboxPipe, SandboxSetupError } from '../../src/index.js';
import { isRoot } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

// A uid other than the sandbox's root where the host maps one (root host); rootless only 0 is mapped.
const user = isRoot ? 65534 : 0;

/** Checks that fd 0 is a regular file the program can fstat, seek, mmap and reopen as /dev/stdin. */
const STDIN_AS_FILE = `
import mmap, os, stat
st = os.fstat(0)
print('regular', stat.S_ISREG(st.st_mode), st.st_size)
os.lseek(0, 6, os.SEEK_SET)
print('seek', os.read(0, 5).decode())
m = mmap.mmap(0, st.st_size, prot=mmap.PROT_READ)
print('mmap', m[:5].decode())
print('devstdin', open('/dev/stdin').read().strip())
`;

describe('stdin never blocks the host', () => {
  it('50 MB through cat arrive byte for byte while a timer in Node keeps ticking', async ({ sandbox }) => {
    const input = Buffer.alloc(50 * 2 ** 20);
    for (let i = 0; i < input.length; i += 4) input.writeUInt32LE((i * 2654435761) >>> 0, i);
    const sb = sandbox();
    await sb.start(); // the first start of a session builds the host layer; not what is measured
    let last = performance.now(),
      worstGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
    }, 10);
    try {
      const proc = sb.spawn(['cat'], { stdin: input, maxBuffer: 0 });
      const hash = createHash('sha256');
      let bytes = 0;
      proc.stdout.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      const r = await proc;
      expect(r.status).toBe('ok');
      expect(bytes).toBe(input.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
    } finally {
      clearInterval(timer);
    }
    expect(worstGap).toBeLessThan(1000); // a blocking socket held the loop for the whole run
  });

  it('1 MB of stdin to a program that never reads: the wall-time limit fires on time', async ({ sandbox }) => {
    const sb = sandbox();
    await sb.start();
    const t0 = performance.now();
    const r = await sb.run(['sleep', '4'], { stdin: Buffer.alloc(2 ** 20, 0x61), limits: { wallTime: '1s' } });
    expect(r.status).toBe('wall-time-limit');
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('a program that echoes while it reads does not deadlock', async ({ sandbox }) => {
    const lines = Array.from({ length: 200_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const echo = 'import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stderr.write(line)\n';
    const r = await sandbox().run(['python3', '-c', echo], { stdin: lines, limits: { wallTime: '20s' } });
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe(lines);
    expect(r.stderr).toBe(lines);
  });
});

describe('stdio from and to files', () => {
  it('stdin { path }: a regular file the program can fstat, seek, mmap and reopen', async ({ sandbox }) => {
    const sb = sandbox();
    await sb.files.write('/input.txt', 'hello world\n');
    const r = await sb.run(['python3', '-c', STDIN_AS_FILE], { stdin: { path: '/input.txt' }, user });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('regular True 12\nseek world\nmmap hello\ndevstdin hello world\n');
  });

  it('stdin { data, asFile: true }: a sealed file the program can read but not change', async ({ sandbox }) => {
    const sb = sandbox();
    const check = `${STDIN_AS_FILE}
try:
    os.write(0, b'x'); print('write ok')
except OSError as e:
    print('write', e.errno != 0)
`;
    const r = await sb.run(['python3', '-c', check], { stdin: { data: 'hello world\n', asFile: true }, user });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('regular True 12\nseek world\nmmap hello\ndevstdin hello world\nwrite True\n');
  });

  it('the host copy of asFile data is gone once the spawn is answered, also when it is aborted', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    const leftovers = () => readdirSync(sessionFor(sb.options.stateDir).dir).filter((n) => n.startsWith('stdin-'));
    expect((await sb.run(['cat'], { stdin: { data: 'x', asFile: true } })).stdout).toBe('x');
    const aborted = sb.run(['cat'], { stdin: { data: 'y', asFile: true }, signal: AbortSignal.abort() });
    await expect(aborted).rejects.toThrow(/aborted/);
    expect(leftovers()).toEqual([]);
  });

  it("stdin { path } is opened as the spawn's user, inside the root, and only a regular file", async ({ sandbox }) => {
    const sb = sandbox();
    const fail = (path: string, u = 0) =>
      sb.run(['cat'], { stdin: { path }, user: u }).then(
        () => null,
        (e: unknown) => e
      );
    const missing = await fail('/no/such/file');
    expect(missing).toBeInstanceOf(SandboxSetupError);
    expect(missing).toMatchObject({ step: 'spawn.stdio', errnoCode: 'ENOENT', path: '/no/such/file' });
    // A FIFO in place of the file would block an open: refused at once.
    await sb.run(['mkfifo', '/fifo']);
    expect(await fail('/fifo')).toMatchObject({ step: 'spawn.stdio', errnoCode: 'EINVAL' });
    // A symlink out of the root resolves inside it.
    await sb.files.write('/etc/sandkit-marker', 'inside\n');
    await sb.files.symlink('../../../../../../etc/sandkit-marker', '/escape');
    expect((await sb.run(['cat'], { stdin: { path: '/escape' } })).stdout).toBe('inside\n');
    if (isRoot) {
      await sb.files.write('/secret', 'root only\n', { mode: 0o600 });
      expect(await fail('/secret', 65534)).toMatchObject({ step: 'spawn.stdio', errnoCode: 'EACCES' });
    }
    // The sandbox is unharmed by failed spawns.
    expect((await sb.run(['echo', 'ok'])).stdout).toBe('ok\n');
  });

  it("stdout and stderr { path }: written inside the sandbox as the spawn's user, read back via files", async ({
    sandbox,
  }) => {
    const sb = sandbox();
    const r = await sb.run(['sh', '-c', 'echo out; echo err >&2'], {
      stdout: { path: '/tmp/out.txt' },
      stderr: { path: '/tmp/err.txt' },
      user,
    });
    expect(r).toMatchObject({ status: 'ok', stdout: '', stderr: '' });
    expect((await sb.files.read('/tmp/out.txt')).toString()).toBe('out\n');
    expect((await sb.files.read('/tmp/err.txt')).toString()).toBe('err\n');
    expect((await sb.run(['stat', '-c', '%F %u', '/tmp/out.txt'])).stdout).toBe(`regular file ${user}\n`);
    await sb.run(['echo', 'more'], { stdout: { path: '/tmp/out.txt', append: true }, user });
    expect((await sb.files.read('/tmp/out.txt')).toString()).toBe('out\nmore\n');
    await sb.run(['echo', 'new'], { stdout: { path: '/tmp/out.txt' }, user });
    expect((await sb.files.read('/tmp/out.txt')).toString()).toBe('new\n');
  });

  it.for([
    ['limits.output', { output: 100_000 }],
    ['limits.stdout', { stdout: 100_000 }],
  ] as const)(
    'a file stdout past %s: output-limit, the file cut to exactly the limit',
    async ([, limits], { sandbox }) => {
      const sb = sandbox();
      const r = await sb.run(['cat', '/dev/zero'], {
        stdout: { path: '/tmp/flood' },
        limits: { ...limits, wallTime: '20s' },
      });
      expect(r.status).toBe('output-limit');
      expect((await sb.files.stat('/tmp/flood')).size).toBe(100_000);
      const small = await sb.run(['head', '-c', '99999', '/dev/zero'], { stdout: { path: '/tmp/small' }, limits });
      expect(small.status).toBe('ok');
      expect((await sb.files.stat('/tmp/small')).size).toBe(99_999);
    }
  );

  it('both outputs in files share limits.output; appending counts only what is added', async ({ sandbox }) => {
    const sb = sandbox();
    await sb.files.write('/tmp/log', Buffer.alloc(50_000, 0x61));
    const r = await sb.run(['sh', '-c', 'head -c 60000 /dev/zero; head -c 60000 /dev/zero >&2'], {
      stdout: { path: '/tmp/log', append: true },
      stderr: { path: '/tmp/err' },
      limits: { output: 100_000, wallTime: '20s' },
    });
    expect(r.status).toBe('output-limit');
    const out = (await sb.files.stat('/tmp/log')).size - 50_000,
      err = (await sb.files.stat('/tmp/err')).size;
    expect(out).toBe(60_000);
    expect(out + err).toBe(100_000);
  });
});

describe('results', () => {
  it("encoding 'buffer': stdout and stderr byte for byte", async ({ sandbox }) => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await sandbox().run(['sh', '-c', 'cat; cat /dev/stdin >&2'], {
      stdin: { data: bytes, asFile: true },
      encoding: 'buffer',
    });
    expect(Buffer.isBuffer(r.stdout)).toBe(true);
    expect(r.stdout.equals(bytes)).toBe(true);
    expect(r.stderr.equals(bytes)).toBe(true);
  });

  it("output: '10M' keeps exactly 10 MiB of stdout and stderr together", async ({ sandbox }) => {
    const r = await sandbox().run(['sh', '-c', 'yes | tee /dev/stderr'], {
      limits: { output: '10M', wallTime: '30s' },
      encoding: 'buffer',
    });
    expect(r.status).toBe('output-limit');
    expect(r.stdout.length + r.stderr.length).toBe(10 * 2 ** 20);
    expect(r.stdoutTruncated || r.stderrTruncated).toBe(true);
  });

  // A program that writes its 100 KB and exits before the kill lands: what readers of the
  // streams and of the sandbox's events get is still cut at the limit.
  for (const maxBuffer of [undefined, 0]) {
    it(`readers of stdout and stderr get no byte past limits.output (maxBuffer ${maxBuffer ?? 'default'})`, async ({
      sandbox,
    }) => {
      const sb = sandbox();
      let events = 0;
      sb.on('stdout', ({ data }) => (events += data.length));
      sb.on('stderr', ({ data }) => (events += data.length));
      const proc = sb.spawn(['sh', '-c', 'head -c 60000 /dev/zero >&2; yes | head -c 100000'], {
        limits: { output: 1500 },
        ...(maxBuffer !== undefined && { maxBuffer }),
      });
      let read = 0;
      proc.stdout.on('data', (d: Buffer) => (read += d.length));
      proc.stderr.on('data', (d: Buffer) => (read += d.length));
      const r = await proc;
      expect(r.status).toBe('output-limit');
      expect(read).toBe(1500);
      expect(events).toBe(1500);
    });
  }

  it('limits.stdout and limits.stderr apply to their own stream', async ({ sandbox }) => {
    const sb = sandbox();
    const quietErr = await sb.run(['sh', '-c', 'head -c 5000 /dev/zero >&2; yes'], {
      limits: { stdout: 1000, stderr: 10_000, wallTime: '20s' },
    });
    expect(quietErr.status).toBe('output-limit');
    expect(quietErr.stdout.length).toBe(1000);
    expect(quietErr.stderr.length).toBe(5000);
    const underBoth = await sb.run(['sh', '-c', 'head -c 900 /dev/zero; head -c 9000 /dev/zero >&2'], {
      limits: { stdout: 1000, stderr: 10_000 },
    });
    expect(underBoth.status).toBe('ok');
  });
});

describe('pipes between sandboxes', () => {
  // The interactor knows the secret and answers each guess with <, > or =; it accepts at most 20
  // guesses and reports its verdict on stderr and in its exit code.
  const INTERACTOR = `
import sys
secret, n = int(sys.argv[1]), 0
for line in sys.stdin:
    n += 1
    g = int(line)
    if g == secret:
        print('=', flush=True); sys.stderr.write(f'OK {n} guesses\\n'); sys.exit(0)
    print('<' if secret < g else '>', flush=True)
    if n >= 20: break
sys.stderr.write('WRONG\\n'); sys.exit(1)
`;
  const SOLUTION = `
import sys
lo, hi = 1, 1000000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    a = sys.stdin.readline().strip()
    if a == '=': break
    if a == '<': hi = mid - 1
    else: lo = mid + 1
`;

  it('an interactor and a solution in two sandboxes talk through kernel pipes; both results are reported', async ({
    sandbox,
  }) => {
    const judge = sandbox(),
      contestant = sandbox();
    using toSolution = new SandboxPipe();
    using toInteractor = new SandboxPipe();
    const solution = contestant.spawn(['python3', '-c', SOLUTION], {
      stdin: toSolution.readEnd,
      stdout: toInteractor.writeEnd,
      limits: { wallTime: '20s' },
    });
    const interactor = judge.spawn(['python3', '-c', INTERACTOR, '777777'], {
      stdin: toInteractor.readEnd,
      stdout: toSolution.writeEnd,
      limits: { wallTime: '20s' },
    });
    const [s, i] = await Promise.all([solution, interactor]);
    expect(s).toMatchObject({ status: 'ok', stdout: '' });
    expect(i).toMatchObject({ status: 'ok', stdout: '' });
    expect(i.stderr).toMatch(/^OK \d+ guesses\n$/);
    // Nothing came through Node: fd 1 of the solution is a pipe, not a socket.
    using p = new SandboxPipe();
    const fd = await contestant.run(['sh', '-c', 'fd=$(readlink /proc/$$/fd/1); echo "$fd" >&2'], {
      stdout: p.writeEnd,
    });
    expect(fd.stderr).toMatch(/^pipe:\[\d+\]\n$/);
  });

  it('a wrong solution: the interactor rejects it; a solution that exits early gives the interactor EOF', async ({
    sandbox,
  }) => {
    const judge = sandbox(),
      contestant = sandbox();
    const run = async (solution: string[]) => {
      using a = new SandboxPipe();
      using b = new SandboxPipe();
      const s = contestant.spawn(solution, { stdin: a.readEnd, stdout: b.writeEnd, limits: { wallTime: '20s' } });
      const i = judge.spawn(['python3', '-c', INTERACTOR, '5'], {
        stdin: b.readEnd,
        stdout: a.writeEnd,
        limits: { wallTime: '20s' },
      });
      // eslint-disable-next-line @typescript-eslint/return-await -- disposing the pipes here is safe: they close once both spawns were handed their ends
      return Promise.all([s, i]);
    };
    const [, wrong] = await run(['sh', '-c', 'while :; do echo 1; read x || exit 0; done']);
    expect(wrong).toMatchObject({ status: 'nonzero-exit', stderr: 'WRONG\n' });
    const [quitter, eof] = await run(['true']);
    expect(quitter.status).toBe('ok');
    expect(eof).toMatchObject({ status: 'nonzero-exit', stderr: 'WRONG\n' });
  });

  it('each end goes to one spawn only; close() gives a waiting reader EOF; a closed pipe cannot be given', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    const p = new SandboxPipe();
    expect(() => sb.spawn(['cat'], { stdin: p.writeEnd })).toThrow(SandboxOptionsError);
    const reader = sb.spawn(['cat'], { stdin: p.readEnd, limits: { wallTime: '20s' } });
    expect(() => sb.spawn(['cat'], { stdin: p.readEnd })).toThrow(/already given/);
    p.close(); // before the reader even started: it takes effect once the helper has its end
    expect(() => sb.spawn(['echo'], { stdout: p.writeEnd })).toThrow(/closed/);
    expect(await reader).toMatchObject({ status: 'ok', stdout: '' });
  });
});

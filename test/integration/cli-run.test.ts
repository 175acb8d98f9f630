import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { probePath } from '../helpers/probe.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { it, makeProbeImage } from '../helpers/sandboxes.js';
import { it as plainIt } from 'vitest';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import type { SpawnResult } from '../../src/index.js';

const cli = (args: string[], input = '') => runCli(args, { input });
/** The probe bound read-only at /p. */
const probe = ['-v', `${probePath()}:/p:ro`];
const cgroups = cgroupsFor().ok;

/** `sandkit run --json ...`: the SpawnResult it printed, and the exit status. */
async function runJson(args: string[]): Promise<{ status: number | null; result: SpawnResult }> {
  const r = await cli(['run', '--json', ...args]);
  expect(r.stderr).toBe('');
  return { status: r.status, result: JSON.parse(r.stdout) as SpawnResult };
}

describe('sandkit run: flags reach the program', { timeout: 120_000 }, () => {
  it('-e, --env-file, -w, -u, --hostname', async ({ tempDir }) => {
    // Rootless, the sandbox maps only its root user.
    const user = isRoot ? '1000:1001' : '0:0';
    const envFile = join(tempDir(), 'vars.env');
    writeFileSync(envFile, '# a comment\n\nA=from-file\nB=two words\nC=overridden\nHOST_ONLY\n');
    const r = await runCli(
      [
        'run',
        '-e',
        'X=1',
        '--env-file',
        envFile,
        '--env=C=from-flag',
        '-e',
        'HOST_ONLY',
        '-w',
        '/etc',
        '-u',
        user,
        '--hostname',
        'clibox',
        '--',
        'sh',
        '-c',
        'echo "$X|$A|$B|$C|$HOST_ONLY|$(pwd)|$(id -u):$(id -g)|$(uname -n)"',
      ],
      { env: { HOST_ONLY: 'from-host' } }
    );
    expect(r).toMatchObject({
      status: 0,
      stdout: `1|from-file|two words|from-flag|from-host|/etc|${user}|clibox\n`,
    });
  });

  it('-v is writable unless :ro; --mount is read-only unless :rw', async ({ tempDir }) => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    const w = await cli(['run', ...probe, '-v', `${dir}:/data`, '--', '/p', 'write', '/data/out', 'written\n']);
    expect(w.status).toBe(0);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('written\n');
    const ro = await cli(['run', ...probe, '-v', `${dir}:/data:ro`, '--', '/p', 'write', '/data/x']);
    expect(ro.status).toBe(30); // EROFS
    const mount = await cli(['run', ...probe, '--mount', `${dir}:/data`, '--', '/p', 'write', '/data/x']);
    expect(mount.status).toBe(30);
    const rw = await cli(['run', ...probe, '--mount', `${dir}:/data:rw`, '--', '/p', 'write', '/data/rw']);
    expect(rw.status).toBe(0);
  });

  it('IMAGE as a positional, then the command without --', async ({ tempDir }) => {
    const dir = makeProbeImage(tempDir());
    const r = await cli(['run', '--hostname', 'h', dir, '/bin/probe', 'cat', '/etc/image-marker']);
    expect(r).toMatchObject({ status: 0, stdout: 'from the image\n' });
    // Flags after the image are the command's.
    const flag = await cli(['run', dir, '/bin/probe', 'write', '/tmp/x', '--bogus']);
    expect(flag.status).toBe(0);
    const both = await cli(['run', '--image', dir, dir, '--', 'true']);
    expect(both.status).toBe(2);
  });

  it('-i keeps stdin attached', async () => {
    const r = await cli(['run', '-i', '--', 'cat'], 'piped');
    expect(r).toMatchObject({ status: 0, stdout: 'piped' });
  });

  it('--timeout ends the command with wall-time-limit in --json', async () => {
    const { status, result } = await runJson(['--timeout', '300ms', '--', 'sleep', '30']);
    expect(result).toMatchObject({ status: 'wall-time-limit', limitExceeded: 'wallTime', signal: 'SIGKILL' });
    expect(result.wallTimeMs).toBeLessThan(10_000);
    expect(status).toBe(137);
  });

  it('--output-limit cuts the streamed output at the limit and exits 137, even when the program exits first', async () => {
    const res = await cli(['run', '--output-limit', '1K', '--', 'sh', '-c', 'yes | head -c 100000']);
    expect(res.stdout.length).toBe(1024);
    expect(res.status).toBe(137);
  });

  it('--output-limit cuts the output at the limit', async () => {
    const { result } = await runJson(['--output-limit', '1000', '--', 'yes']);
    expect(result).toMatchObject({ status: 'output-limit', limitExceeded: 'output' });
    expect(result.stdout.length).toBe(1000);
  });

  it('--disk makes a full writable layer ENOSPC', async () => {
    const r = await cli(['run', '--disk', '2M', '--', 'sh', '-c', 'head -c 4194304 /dev/zero > /tmp/big']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/space/i);
  });
});

describe('sandkit run: cgroup limits', { timeout: 120_000 }, () => {
  plainIt('--memory: a hog past it is OOM-killed', async (ctx) => {
    requireFeature(ctx, cgroups, 'no cgroups to delegate here (rootless)');
    const { status, result } = await runJson([...probe, '--memory', '48M', '--', '/p', 'memhog', '256M']);
    expect(result).toMatchObject({ oomKilled: true, signal: 'SIGKILL' });
    expect(status).toBe(137);
  });

  plainIt('--pids-limit: forks stop at it', async (ctx) => {
    requireFeature(ctx, cgroups, 'no cgroups to delegate here (rootless)');
    const r = await cli(['run', ...probe, '--pids-limit', '8', '--', '/p', 'forks', '50']);
    expect(r.stdout).toMatch(/^forks=[0-7] error=EAGAIN/);
  });

  plainIt('--cpu-time gives time-limit in --json; --cpus caps the rate', async (ctx) => {
    requireFeature(ctx, cgroups, 'no cgroups to delegate here (rootless)');
    const cpu = await runJson([...probe, '--cpu-time', '200ms', '--', '/p', 'spin', '0']);
    expect(cpu.result).toMatchObject({ status: 'time-limit', limitExceeded: 'cpuTime' });
    const capped = await runJson([...probe, '--cpus', '0.2', '--timeout', '1500ms', '--', '/p', 'spin', '0']);
    expect(capped.result.status).toBe('wall-time-limit');
    expect(capped.result.cpuTimeMs.total).toBeLessThan(700); // 0.2 of 1.5 s is 300 ms; uncapped it is ~1500
  });

  plainIt('--memory without cgroups (rootless here) is one line, exit 125; with them it runs', async () => {
    const r = await cli(['run', '--memory', '64M', '--', 'true']);
    if (cgroups) {
      expect(r).toMatchObject({ status: 0, stderr: '' });
      return;
    }
    expect(r.status).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('sandkit run: exit codes as Docker', () => {
  it.for([
    [['--', 'sh', '-c', 'exit 7'], 7],
    [['--', 'no-such-command-xyz'], 127],
    [['--', '/etc/passwd'], 126],
    [['--', 'sh', '-c', 'kill -KILL $$'], 137],
    [['--', 'sh', '-c', 'kill -TERM $$'], 143],
    [['no-such-image-xyz', '--', 'true'], 125],
  ] as const)('%j exits %i', async ([args, status]) => {
    expect((await cli(['run', ...args])).status).toBe(status);
  });
});

describe('sandkit usage errors and help', () => {
  it.for([
    [['run', '--bogus', '--', 'true'], 'sandkit: unknown option --bogus for run (see sandkit run --help)'],
    [['run', '-X'], 'sandkit: unknown option -X for run (see sandkit run --help)'],
    [['frobnicate'], 'sandkit: unknown command frobnicate (see sandkit --help)'],
    [['network', 'frob'], 'sandkit: unknown command frob for network (see sandkit network --help)'],
    [['image', 'ls', '--bogus'], 'sandkit: unknown option --bogus for image (see sandkit image --help)'],
    [['run', '--memory'], 'sandkit run: option --memory needs a value (see sandkit run --help)'],
    [['run'], 'sandkit run: no command given (see sandkit run --help)'],
    [['run', '--memory', 'lots', '--', 'true'], /^sandkit run: --memory: expected a size .*"lots"/],
    [['run', '--cpus', 'x', '--', 'true'], /^sandkit run: --cpus: expected a number/],
    [['run', '--timeout', '-1', '--', 'true'], /^sandkit run: --timeout: /],
    [['run', '-v', 'relative', '--', 'true'], /^sandkit run: --volume "relative": expected SRC:DST/],
    [['run', '-v', '/a:rel', '--', 'true'], /DST must be an absolute path/],
    [['run', '-u', 'a b', '--', 'true'], /^sandkit run: --user: /],
    [['run', '-e', '=x', '--', 'true'], /^sandkit run: --env: expected KEY=VALUE/],
    [['help', 'nope'], 'sandkit: unknown command nope (see sandkit --help)'],
  ] as const)('%j: one line, exit 2', async ([args, line]) => {
    const r = await cli([...args]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    if (typeof line === 'string') expect(lines[0]).toBe(line);
    else expect(lines[0]).toMatch(line);
  });

  it.for([
    ['run', '--help'],
    ['run', '-h'],
    ['help', 'run'],
    ['snapshot', '--help'],
    ['image', '--help'],
    ['image', 'import', '--help'],
    ['network', '--help'],
    ['network', 'create', '--help'],
    ['doctor', '--help'],
    ['help'],
    ['--help'],
  ])('%j prints help on stdout, exit 0', async (args) => {
    const r = await cli(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: sandkit/);
    expect(r.stderr).toBe('');
  });

  it('run --help lists every run flag', async () => {
    const { stdout } = await cli(['run', '--help']);
    for (const flag of [
      '-e, --env',
      '--env-file',
      '-v, --volume',
      '--mount',
      '-w, --workdir',
      '-u, --user',
      '-i, --interactive',
      '-t, --tty',
      '--name',
      '--label',
      '--hostname',
      '-m, --memory',
      '--cpus',
      '--pids-limit',
      '--cpu-time',
      '--timeout',
      '--output-limit',
      '--disk',
      '--network',
      '-p, --publish',
      '--image',
      '--json',
    ])
      expect(stdout).toContain(flag);
  });
});

describe('sandkit run --name and --label', { timeout: 120_000 }, () => {
  plainIt('name and label the sandbox: sandkit ps finds it, exec reaches it and stop ends the run', async () => {
    const name = `cli-named-${process.pid}`;
    const label = `run=${process.pid}`;
    const run = runCli(['run', '--name', name, '--label', label, '--', 'sleep', '60']);
    let found: { name?: string; labels?: Record<string, string> }[] = [];
    for (let i = 0; i < 100 && found.length === 0; i++) {
      const ps = await cli(['ps', '--json', '--label', label]);
      expect(ps.status).toBe(0);
      found = JSON.parse(ps.stdout) as typeof found;
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ name, labels: { run: String(process.pid) } });
    expect(await cli(['exec', name, '--', 'echo', 'inside'])).toMatchObject({ status: 0, stdout: 'inside\n' });
    expect(await cli(['stop', name])).toMatchObject({ status: 0 });
    // The run's program was killed with its sandbox: the CLI exits as Docker's does for SIGKILL.
    expect((await run).status).not.toBe(0);
    expect(JSON.parse((await cli(['ps', '--json', '--label', label])).stdout)).toEqual([]);
  });
});

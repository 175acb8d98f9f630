import { spawn } from 'node:child_process';
import { describe, expect } from 'vitest';
import { dist } from '../helpers/dist.js';
import { runCli } from '../helpers/cli.js';
import { probePath } from '../helpers/probe.js';
import { it, makeProbeImage } from '../helpers/sandboxes.js';

/** A CLI that hangs is killed before the test times out, so it cannot outlive the run. */
const noOrphan = { timeout: 20_000, killSignal: 'SIGKILL' } as const;

/** Runs the CLI with `input` on its stdin. */
const cli = (args: string[], input = '') => runCli(args, { input });

describe('sandkit CLI', () => {
  it("run prints the command's output and exits with its code", async () => {
    const result = await cli(['run', '--', 'sh', '-c', 'echo 2; echo to-stderr >&2; exit 3']);
    expect(result).toEqual({ status: 3, stdout: '2\n', stderr: 'to-stderr\n' });
  });

  it('run passes stdin through', async () => {
    const result = await cli(['run', '--', 'sh', '-c', 'cat; echo " (from stdin)"'], 'hello');
    expect(result).toMatchObject({ status: 0, stdout: 'hello (from stdin)\n' });
  });

  it('run runs inside a sandbox: PID 2, hostname, options', async () => {
    const result = await cli([
      'run',
      '--hostname',
      'clibox',
      '--env',
      'X=1',
      '--cwd',
      '/etc',
      '--',
      'sh',
      '-c',
      'echo $$ $(uname -n) $X $(pwd)',
    ]);
    expect(result).toMatchObject({ status: 0, stdout: '2 clibox 1 /etc\n' });
  });

  it('run --image <dir> uses that root filesystem', async ({ tempDir }) => {
    const dir = makeProbeImage(tempDir('sandkit-cli-image-'));
    const result = await cli(['run', '--image', dir, '--', '/bin/probe', 'cat', '/etc/image-marker']);
    expect(result).toMatchObject({ status: 0, stdout: 'from the image\n' });
    const noShell = await cli(['run', '--image', dir, '--', 'sh', '-c', 'true']);
    expect(noShell.status).toBe(127);
  });

  it('run --mount binds a host path read-only', async () => {
    const result = await cli(['run', '--mount', `${probePath()}:/p`, '--', '/p', 'write', '/p']);
    expect(result.status).toBe(30); // EROFS
  });

  it('a missing command exits 127 with a message', async () => {
    const result = await cli(['run', '--', 'no-such-command-xyz']);
    expect(result.status).toBe(127);
    expect(result.stderr).toContain('no-such-command-xyz');
  });

  it('a signal that ends the command gives 128 + signo', async () => {
    const result = await cli(['run', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(result.status).toBe(128 + 15);
  });

  it.for([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s to the CLI is forwarded to the command (exit %i)', async ([signal, status]) => {
    const child = spawn(process.execPath, [dist.cli, 'run', '--', 'sh', '-c', 'echo ready; exec sleep 600'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...noOrphan,
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await new Promise<void>((resolve) =>
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        })
      );
      child.kill(signal);
      expect(await exited).toBe(status);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it.for([
    [['run'], 2],
    [['run', '--network', 'bogus', '--', 'true'], 2],
    [['frobnicate'], 2],
  ] as const)('usage errors: %j exits %i', async ([args, status]) => {
    const result = await cli([...args]);
    expect(result.status).toBe(status);
    expect(result.stderr).not.toBe('');
  });

  it('doctor prints a JSON report and exits 1 only when it lists problems', async () => {
    const result = await cli(['doctor']);
    const report = JSON.parse(result.stdout) as {
      root: boolean;
      stateDir: string;
      features: object;
      problems: string[];
    };
    expect(result.status).toBe(report.problems.length === 0 ? 0 : 1);
    expect(report).toMatchObject({ root: process.getuid!() === 0, stateDir: process.env.SANDKIT_STATE_DIR });
    expect(report.features).toMatchObject({ version: 1, userns: true, overlayInUserns: true });
    // What this suite relies on works here, so it must not be reported missing.
    for (const problem of report.problems) expect(problem).not.toMatch(/user namespace|overlay/i);
  });
});

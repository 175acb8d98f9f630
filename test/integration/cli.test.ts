import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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

  it('doctor --json prints the report; exit 0 exactly when the core works', async () => {
    const result = await cli(['doctor', '--json']);
    const report = JSON.parse(result.stdout) as {
      root: boolean;
      stateDir: string;
      features: object;
      problems: string[];
      coreWorks: boolean;
      checks: Array<{ id: string; ok: boolean; core: boolean; feature: string; enables: string; detail: string }>;
    };
    expect(report).toMatchObject({ root: process.getuid!() === 0, stateDir: process.env.SANDKIT_STATE_DIR });
    expect(report.features).toMatchObject({ version: 1, userns: true, overlayInUserns: true });
    // What this suite relies on works here, so it must not be reported missing.
    for (const problem of report.problems) expect(problem).not.toMatch(/user namespace|overlay/i);
    const ids = report.checks.map((c) => c.id);
    for (const id of [
      'helper',
      'userns',
      'overlay',
      'stateDir',
      'sandbox',
      'cgroups',
      'io',
      'nft',
      'ip',
      'usernet',
      'timens',
      'seccomp',
    ])
      expect(ids).toContain(id);
    const core = report.checks.filter((c) => c.core).map((c) => c.id);
    expect(core.sort()).toEqual(['helper', 'overlay', 'sandbox', 'stateDir', 'userns']);
    // Installed here (.ci/run): the tools networks need, and a helper that starts.
    for (const id of ['helper', 'userns', 'overlay', 'sandbox', 'nft', 'ip', 'usernet', 'seccomp'])
      expect(report.checks.find((c) => c.id === id)?.ok, id).toBe(true);
    expect(report.checks.find((c) => c.id === 'helper')?.detail).toMatch(
      /^(built from source|prebuilt|from SANDKIT_HELPER): \//
    );
    expect(report.coreWorks).toBe(true);
    expect(result.status).toBe(0); // whatever extras (the io controller, cgroups rootless) are missing
  });

  it('doctor prints a table: one row per feature, a fix for each missing one', async () => {
    const result = await cli(['doctor']);
    expect(result.status).toBe(0);
    const rows = result.stdout.split('\n').filter((l) => /^[✔✘] /.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(12);
    expect(result.stdout).toMatch(/^✔ user namespaces +every sandbox/m);
    expect(result.stdout).toMatch(/^✔ nft +networks/m);
    // Every missing feature comes with its fix.
    const lines = result.stdout.split('\n');
    lines.forEach((l, i) => {
      if (l.startsWith('✘ ')) expect(lines[i + 2]).toMatch(/^ +fix: /);
    });
    expect(result.stdout).toMatch(/^Sandboxes run here/m);
  });

  it('doctor with a helper that cannot start: the helper row fails, exit 1', async ({ tempDir }) => {
    const bogus = `${tempDir()}/not-a-helper`;
    writeFileSync(bogus, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const result = await runCli(['doctor', '--json'], { env: { SANDKIT_HELPER: bogus } });
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout) as { coreWorks: boolean; checks: Array<{ id: string; ok: boolean }> };
    expect(report.coreWorks).toBe(false);
    expect(report.checks.find((c) => c.id === 'helper')?.ok).toBe(false);
  });
});

// sandkit inside a container-like host: new mount and pid namespaces (plus a user namespace when
// run rootless), an overlayfs root entered with pivot_root, Docker's /proc masks, read-only
// /sys, default capabilities, and no view of the host's state dir (enter-container.sh). The
// state dir is sandkit's default one, on the container's overlayfs root.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/dist.js';
import { mountsMentioning } from '../helpers/host.js';
import { compileStatic } from '../helpers/probe.js';

const rootless = process.getuid?.() !== 0;
const script = join(repoRoot, 'test', 'container', 'enter-container.sh');
type Line = { check: string; error?: { name: string; message: string } } & Record<string, unknown>;
let scratch: string;
let tools: string;

/** Runs inside.mjs in a fresh container; the namespaces die with it, so nothing is left mounted. */
function inContainer(mode: 'masked' | 'unmasked', seccompNoUserns = false): Map<string, Line> {
  const ns = rootless ? ['-U', '--map-current-user', '--keep-caps'] : [];
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (rootless) env.SANDKIT_CT_ROOTLESS = '1';
  if (seccompNoUserns)
    env.SANDKIT_CT_SECCOMP = compileStatic(join(repoRoot, 'test', 'fixtures', 'no-userns.c'), join(tools, 'no-userns'));
  const r = spawnSync(
    'unshare',
    [
      ...ns,
      '-m',
      '-p',
      '-f',
      '--propagation',
      'private',
      '--',
      'sh',
      script,
      scratch,
      mode,
      repoRoot,
      process.execPath,
      join(repoRoot, 'test', 'container', 'inside.mjs'),
      join(repoRoot, 'dist'),
    ],
    { encoding: 'utf8', env, timeout: 240_000 }
  );
  if (r.status !== 0) throw new Error(`container exited with ${r.status ?? r.signal}: ${r.stderr}`);
  return new Map(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line)
      .map((l) => [l.check, l])
  );
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sandkit-ct-'));
  chmodSync(scratch, 0o755);
  tools = mkdtempSync(join(tmpdir(), 'sandkit-ct-tools-'));
});
afterAll(() => {
  expect(mountsMentioning(scratch)).toEqual([]);
  rmdirSync(scratch);
  rmSync(tools, { recursive: true, force: true });
});

describe(`in a container (${rootless ? 'rootless, in a user namespace' : 'as root'}), /proc unmasked`, () => {
  let got: Map<string, Line>;
  beforeAll(() => {
    got = inContainer('unmasked');
  }, 250_000);

  it('doctor says the writable layers go on a tmpfs, and why', () => {
    const report = (
      got.get('doctor') as { report?: { writableLayers: unknown; stateDir: string; sandboxStarts: unknown } }
    ).report;
    expect(report?.sandboxStarts).toBe(true);
    expect(report?.writableLayers).toMatchObject({
      on: 'tmpfs',
      filesystem: 'overlayfs',
      reason: expect.stringContaining('cannot hold an overlay upper'),
    });
    expect(report?.stateDir).toBe(rootless ? '/home/user/.local/state/sandkit' : '/var/lib/sandkit');
  });

  it("runs the CLI's main job", () => {
    expect(got.get('cli')).toEqual({ check: 'cli', status: 0, stdout: '42\n', stderr: '' });
  });

  for (const limits of ['default', 'unlimited']) {
    it(`takes a snapshot and serves the files API (limits ${limits})`, () => {
      expect(got.get(`snapshot+files (limits ${limits})`)).toEqual({
        check: `snapshot+files (limits ${limits})`,
        viaRun: { status: 'ok', stdout: 'from the files API' },
        viaFiles: 'built\n',
        fromSnapshot: { status: 'ok', stdout: 'built\nfrom the files API' },
      });
    });
  }

  it('refuses a state dir on a full filesystem, naming it', () => {
    expect(got.get('full state dir')?.error).toEqual({
      name: 'SandboxOptionsError',
      message: expect.stringContaining('/full/state: is full'),
    });
  });

  it('gives the limits verdicts', () => {
    expect(got.get('verdicts')).toEqual({
      check: 'verdicts',
      wall: 'wall-time-limit',
      cpu: 'time-limit',
      output: 'output-limit',
      disk: { status: 'ok', stdout: '1\n' },
    });
  });
});

describe(`in a container (${rootless ? 'rootless' : 'as root'}) with Docker's default /proc masks`, () => {
  let got: Map<string, Line>;
  beforeAll(() => {
    got = inContainer('masked');
  }, 250_000);

  it('a sandbox fails with SandboxUnsupportedError naming the setting that fixes it', () => {
    for (const name of ['cli', 'snapshot+files (limits default)', 'verdicts']) {
      const line = got.get(name)!;
      const message = line.error?.message ?? String(line.stderr);
      if (line.error) expect(line.error.name).toBe('SandboxUnsupportedError');
      expect(message).toContain('--security-opt systempaths=unconfined');
      expect(message).toContain('procMount: Unmasked');
    }
  });

  it('doctor prints the same', () => {
    const report = (got.get('doctor') as { report?: { problems: string[] } }).report;
    expect(
      report?.problems.some((p) => p.includes('/proc has masked paths') && p.includes('systempaths=unconfined'))
    ).toBe(true);
  });
});

describe(`in a container (${rootless ? 'rootless' : 'as root'}) whose seccomp profile refuses user namespaces`, () => {
  let got: Map<string, Line>;
  beforeAll(() => {
    got = inContainer('unmasked', true);
  }, 250_000);

  it('a sandbox fails with SandboxUnsupportedError naming the seccomp setting', () => {
    for (const name of ['cli', 'snapshot+files (limits default)', 'verdicts']) {
      const line = got.get(name)!;
      const message = line.error?.message ?? String(line.stderr);
      if (line.error) expect(line.error.name).toBe('SandboxUnsupportedError');
      expect(message).toContain('seccomp=unconfined');
      expect(message).toContain('seccompProfile.type: Unconfined');
    }
  });

  it('doctor prints the same', () => {
    const report = (got.get('doctor') as { report?: { problems: string[]; sandboxStarts: unknown } }).report;
    expect(report?.sandboxStarts).toMatchObject({
      error: 'SandboxUnsupportedError',
      message: expect.stringContaining('seccomp=unconfined'),
    });
    expect(report?.problems.some((p) => p.includes('seccomp=unconfined'))).toBe(true);
  });
});

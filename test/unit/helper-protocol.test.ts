import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every test here talks to test/fixtures/fake-helper.mjs instead of the native helper.
const stateDir = mkdtempSync(join(tmpdir(), 'sandkit-fake-'));
process.env.SANDKIT_HELPER = join(__dirname, '..', 'fixtures', 'fake-helper.mjs');
process.env.SANDKIT_NO_CGROUPS = '1'; // unit tests touch no kernel state
// The scripted lines must be lines the real helper could send: each is checked against the spec.
process.env.SANDKIT_CHECK_PROTOCOL = '1';
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const created = { type: 'created', req: '$req', sandbox: '$sandbox', pid: 4242 };
const spawned = { type: 'spawned', req: '$req', process: '$process', pid: 4250, nspid: 2, preExecCpuUs: 0 };
const exit = (fields: object) => ({
  type: 'exit',
  sandbox: '$sandbox',
  process: '$process',
  exitCode: 0,
  signal: null,
  signo: null,
  wallUs: 1500,
  rusage: { userUs: 1000, systemUs: 2000, maxRssKb: 10 },
  execError: null,
  outputFiles: { stdout: null, stderr: null },
  outputFileLimit: false,
  memoryUsedBytes: null,
  oomKilled: false,
  violation: null,
  ...fields,
});
const destroyed = { type: 'destroyed', req: '$req', sandbox: '$sandbox' };
const quiet = { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } as const;

async function load(script: object) {
  process.env.SANDKIT_FAKE_SCRIPT = JSON.stringify(script);
  vi.resetModules();
  return import('../../src/index.js');
}

describe('SDK against a scripted helper', () => {
  beforeEach(() => {
    delete process.env.SANDKIT_FAKE_SCRIPT;
  });

  it('emits lifecycle events in order and maps the exit line to a result', async () => {
    const { Sandbox } = await load({
      create: [{ type: 'step', sandbox: '$sandbox', step: 'rootfs.overlay' }, created],
      spawn: [spawned, exit({ exitCode: 3 })],
      destroy: [destroyed],
    });
    const sandbox = new Sandbox({ stateDir });
    const events: string[] = [];
    for (const name of [
      'created',
      'starting',
      'step',
      'started',
      'spawn',
      'exit',
      'destroying',
      'destroyed',
    ] as const) {
      sandbox.on(name, () => events.push(name));
    }
    const result = await sandbox.run(['prog'], quiet);
    expect(result).toMatchObject({
      status: 'nonzero-exit',
      exitCode: 3,
      signal: null,
      pid: 4250,
      wallTimeMs: 1.5,
      cpuTimeMs: { user: 1, system: 2, total: 3 },
      maxRssBytes: 10240,
      execError: null,
    });
    await sandbox.destroy();
    await sandbox.destroy();
    expect(events).toEqual(['created', 'starting', 'step', 'started', 'spawn', 'exit', 'destroying', 'destroyed']);
    expect(sandbox.state).toBe('destroyed');
  });

  it('turns a setup error into SandboxSetupError with step, syscall and errno', async () => {
    const { Sandbox, SandboxSetupError } = await load({
      create: [
        {
          type: 'error',
          req: '$req',
          sandbox: '$sandbox',
          process: null,
          step: 'rootfs.overlay',
          syscall: 'mount',
          errno: 1,
          errnoName: 'EPERM',
          path: '/r',
          message: 'Operation not permitted',
        },
      ],
    });
    const sandbox = new Sandbox({ stateDir });
    const failed = vi.fn();
    sandbox.on('failed', failed);
    const err = await sandbox.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxSetupError);
    expect(err).toMatchObject({
      code: 'ERR_SANDBOX_SETUP',
      step: 'rootfs.overlay',
      syscall: 'mount',
      errnoCode: 'EPERM',
      path: '/r',
    });
    expect((err as Error).message).toBe('start: rootfs.overlay: mount("/r"): EPERM (Operation not permitted)');
    expect(failed).toHaveBeenCalledOnce();
    expect(sandbox.state).toBe('failed');
    await sandbox.destroy();
  });

  it('reports a signal death and a failed exec as facts on the result', async () => {
    const { Sandbox } = await load({
      create: [created],
      spawn: [spawned, exit({ exitCode: null, signal: 'SIGKILL', signo: 9 })],
      destroy: [destroyed],
    });
    const sandbox = new Sandbox({ stateDir });
    const r = await sandbox.run(['x'], quiet);
    expect(r).toMatchObject({ status: 'signaled', signal: 'SIGKILL', exitCode: null });
    await sandbox.destroy();
  });

  it('rejects a spawn setup failure with the call site in the stack', async () => {
    const { Sandbox, SandboxSetupError } = await load({
      create: [created],
      spawn: [
        {
          type: 'error',
          req: '$req',
          sandbox: '$sandbox',
          process: '$process',
          step: 'spawn.cwd',
          syscall: 'chdir',
          errno: 2,
          errnoName: 'ENOENT',
          path: '/nope',
          message: 'No such file or directory',
        },
      ],
      destroy: [destroyed],
    });
    const sandbox = new Sandbox({ stateDir });
    const err = await sandbox.spawn(['x'], { ...quiet, cwd: '/nope' }).then(
      () => null,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(SandboxSetupError);
    expect(err).toMatchObject({ step: 'spawn.cwd', errnoCode: 'ENOENT' });
    expect((err as Error).stack).toContain('helper-protocol.test.ts');
    await sandbox.destroy();
  });

  it('fails calls in flight when the helper dies, with its stderr, and restarts it', async () => {
    const { Sandbox, SandboxHelperError } = await load({ create: [{ crash: 'helper: fatal: something broke\n' }] });
    const sandbox = new Sandbox({ stateDir });
    const err = await sandbox.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxHelperError);
    expect((err as Error).message).toMatch(/exited \(exit 3\).*something broke/);
    // The next sandbox gets a fresh helper.
    process.env.SANDKIT_FAKE_SCRIPT = JSON.stringify({ create: [created], destroy: [destroyed] });
    const again = new Sandbox({ stateDir });
    await expect(again.start()).resolves.toBeUndefined();
    await again.destroy();
    await sandbox.destroy();
  });
});

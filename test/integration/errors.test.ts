import { describe, expect } from 'vitest';
import {
  Image,
  Sandbox,
  SandboxError,
  SandboxOptionsError,
  SandboxSetupError,
  type SandboxOptions,
  type SpawnOptions,
} from '../../src/index.js';
import { sandboxDirsUnder, stateRoot } from '../helpers/host.js';
import { PROBE } from '../helpers/probe.js';
import { it } from '../helpers/sandboxes.js';

/** Runs `fn`, expecting it to throw synchronously; returns what it threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a synchronous throw');
}

describe('invalid options are rejected before anything is created', () => {
  it.for<[string, string, () => SandboxOptions]>([
    ['image: not a directory', 'image', () => ({ image: Image.fromDirectory('/etc/passwd') })],
    ['image: not an Image', 'image', () => ({ image: '/' as unknown as Image })],
    ['network: bogus', 'network', () => ({ network: 'bogus' as 'none' })],
    ['hostname: a b', 'hostname', () => ({ hostname: 'a b' })],
    ['mounts[0].source relative', 'mounts[0].source', () => ({ mounts: [{ source: 'relative/dir', target: '/x' }] })],
    ['mounts[0].target relative', 'mounts[0].target', () => ({ mounts: [{ source: '/etc', target: 'x' }] })],
    ["env key with '='", 'env.A=B', () => ({ env: { 'A=B': 'x' } })],
    ['cwd relative', 'cwd', () => ({ cwd: 'relative' })],
    ['unknown option', 'bogus', () => ({ bogus: 1 }) as SandboxOptions],
  ])('new Sandbox(%s) throws naming %s', ([, field, options]) => {
    const dirsBefore = sandboxDirsUnder(stateRoot()).length;
    const err = thrown(() => new Sandbox(options()));
    expect(err).toBeInstanceOf(SandboxOptionsError);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toMatchObject({ code: 'ERR_SANDBOX_OPTIONS', field });
    expect((err as Error).message).toContain(field);
    expect(sandboxDirsUnder(stateRoot()).length).toBe(dirsBefore);
  });

  it.for<[string, string, unknown, SpawnOptions]>([
    ['command []', 'command', [], {}],
    ['command [1]', 'command[0]', [1], {}],
    ["command ['']", 'command[0]', [''], {}],
    ['cwd relative', 'cwd', ['true'], { cwd: 'relative' }],
    ['user -1', 'user', ['true'], { user: -1 }],
    ['user 1.5', 'user', ['true'], { user: 1.5 }],
    ["env key with '='", 'env.A=B', ['true'], { env: { 'A=B': 'x' } }],
    ['maxBuffer -1', 'maxBuffer', ['true'], { maxBuffer: -1 }],
    ['stdout: inherit', 'stdout', ['true'], { stdout: 'inherit' as 'pipe' }],
    ['unknown option', 'bogus', ['true'], { bogus: 1 } as SpawnOptions],
  ])('spawn(%s) throws naming %s, and the sandbox is not started', ([, field, command, options], { sandbox }) => {
    const sb = sandbox();
    const err = thrown(() => sb.spawn(command as string[], options));
    expect(err).toBeInstanceOf(SandboxOptionsError);
    expect(err).toMatchObject({ code: 'ERR_SANDBOX_OPTIONS', field });
    expect(sb.state).toBe('created');
    expect(sb.pid).toBeUndefined();
  });

  it('run() rejects with the same error', async ({ sandbox }) => {
    await expect(sandbox().run(['true'], { user: -1 })).rejects.toMatchObject({
      name: 'SandboxOptionsError',
      field: 'user',
    });
  });
});

describe('a program that cannot run is a result, not a throw', () => {
  it.for([
    ['no-such-command-xyz', 'no-such-command-xyz'],
    ['/no/such/path', '/no/such/path'],
  ])('%s → exit 127, ENOENT, a message on stderr', async ([command], { sandbox }) => {
    const result = await sandbox().run([command!]);
    expect(result).toMatchObject({ exitCode: 127, signal: null, status: 'nonzero-exit' });
    expect(result.execError).toMatchObject({ errnoCode: 'ENOENT' });
    expect(result.execError!.message).toMatch(/no such file/i);
    expect(result.stderr).toContain(`sandkit: ${command}: `);
    expect(result.stderr).toMatch(/No such file or directory/);
  });

  it.for([
    ['a file without x bit', '/etc/hostname'],
    ['a directory', '/etc'],
  ])('%s → exit 126', async ([, path], { sandbox }) => {
    const result = await sandbox().run([path!]);
    expect(result.exitCode).toBe(126);
    expect(result.execError).toMatchObject({ errnoCode: 'EACCES' });
    expect(result.stderr).toContain(`sandkit: ${path}: `);
  });
});

describe('a spawn that the sandbox cannot set up rejects', () => {
  it('a missing cwd → SandboxSetupError at spawn.cwd with ENOENT, and the sandbox still works', async ({ sandbox }) => {
    const sb = sandbox();
    const err = await sb.run(['true'], { cwd: '/no/such/dir' }).then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(SandboxSetupError);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toMatchObject({ code: 'ERR_SANDBOX_SETUP', step: 'spawn.cwd', errnoCode: 'ENOENT' });
    expect((err as Error).message).toMatch(/^spawn: spawn\.cwd: .*ENOENT/);
    expect((err as Error).stack).toContain('errors.test.ts'); // the caller's stack, not the helper's
    expect((await sb.run([PROBE, 'pid'])).stdout).toBe('pid=2 ppid=1\n');
  });

  it('a cwd that is a file → spawn.cwd with ENOTDIR', async ({ sandbox }) => {
    const err = await sandbox()
      .run(['true'], { cwd: '/etc/hostname' })
      .then(
        () => undefined,
        (e: unknown) => e
      );
    expect(err).toMatchObject({ step: 'spawn.cwd', errnoCode: 'ENOTDIR' });
  });
});

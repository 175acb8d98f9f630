import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSandboxOptions } from '../../src/sandbox/options.js';
import { resolveSpawnOptions } from '../../src/process/spawn-options.js';
import { Image } from '../../src/images/image.js';
import { Namespaces } from '../../src/namespaces/namespaces.js';
import { SandboxOptionsError } from '../../src/errors/sandbox-error.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof SandboxOptionsError) return e.field;
    throw e;
  }
  return undefined;
}

describe('sandbox options', () => {
  it('applies defaults', () => {
    const o = resolveSandboxOptions({});
    expect(o.image.kind).toBe('host');
    expect(o.network).toBe('none');
    expect(o.hostname).toBe('sandbox');
    expect(o.namespaces.toJSON()).toEqual({ user: true, uts: true, ipc: true, net: true, cgroup: true });
    expect(o.cwd).toBe('/');
  });

  it.each([
    [{ network: 'bogus' }, 'network'],
    [{ hostname: 'a b' }, 'hostname'],
    [{ hostname: '-x' }, 'hostname'],
    [{ image: '/tmp' }, 'image'],
    [{ mounts: [{ source: 'relative', target: '/x' }] }, 'mounts[0].source'],
    [{ mounts: [{ source: '/definitely/not/here', target: '/x' }] }, 'mounts[0].source'],
    [{ mounts: [{ source: '/usr', target: 'usr' }] }, 'mounts[0].target'],
    [{ mounts: [{ source: '/usr', target: '/usr', readonly: 'yes' }] }, 'mounts[0].readonly'],
    [{ env: { 'A=B': 'x' } }, 'env.A=B'],
    [{ env: { A: 1 } }, 'env.A'],
    [{ cwd: 'relative' }, 'cwd'],
    [{ stateDir: 'rel' }, 'stateDir'],
    [{ stateDir: '/a,b' }, 'stateDir'],
    [{ namespaces: { net: false } }, 'namespaces.net'],
    [{ bogus: 1 }, 'bogus'],
  ])('rejects %j naming %s', (options, field) => {
    expect(fieldOf(() => resolveSandboxOptions(options as never))).toBe(field);
  });

  it('network host drops the network namespace', () => {
    expect(resolveSandboxOptions({ network: 'host' }).namespaces.net).toBe(false);
  });

  it('Namespaces compose', () => {
    const ns = new Namespaces({ ipc: false }).with({ uts: false });
    expect(ns.toJSON()).toEqual({ user: true, uts: false, ipc: false, net: true, cgroup: true });
    expect(ns.pid).toBe(true);
  });

  it('Image.fromDirectory checks its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-img-'));
    try {
      expect(Image.fromDirectory(dir).kind).toBe('directory');
      expect(fieldOf(() => Image.fromDirectory(join(dir, 'missing')))).toBe('image');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('spawn options', () => {
  it('applies defaults', () => {
    const o = resolveSpawnOptions(['true']);
    expect(o).toMatchObject({
      argv: ['true'],
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      user: 0,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(resolveSpawnOptions(['true'], {}, 'ignore').stdin).toBe('ignore');
  });

  it.each([
    [[], {}, 'command'],
    ['ls', {}, 'command'],
    [[1], {}, 'command[0]'],
    [['a', 'b\0c'], {}, 'command[1]'],
    [[''], {}, 'command[0]'],
    [['true'], { cwd: 'x' }, 'cwd'],
    [['true'], { user: -1 }, 'user'],
    [['true'], { user: 'bad name' }, 'user'],
    [['true'], { user: { uid: 1, groups: ['x'] } }, 'user.groups'],
    [['true'], { stdin: 5 }, 'stdin'],
    [['true'], { stdout: 'inherit' }, 'stdout'],
    [['true'], { maxBuffer: 1.5 }, 'maxBuffer'],
    [['true'], { signal: {} }, 'signal'],
    [['true'], { timeout: 5 }, 'timeout'],
  ])('rejects %j %j naming %s', (command, options, field) => {
    expect(fieldOf(() => resolveSpawnOptions(command, options as never))).toBe(field);
  });
});

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { dist } from '../helpers/dist.js';
import { it } from '../helpers/sandboxes.js';
import { busyboxRootfs, layerTar, ociLayout, tarDir } from '../helpers/images.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function cli(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [dist.cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sandkit image and snapshot commands', () => {
  it('import (with progress), run --image <name>, snapshot --export, ls, rm', async ({ tempDir }) => {
    const dir = tempDir();
    const env = { SANDKIT_STORE_DIR: join(dir, 'store') };
    busyboxRootfs(join(dir, 'rootfs'));
    execFileSync('tar', ['-C', join(dir, 'rootfs'), '-cf', join(dir, 'base.tar'), '.']);
    ociLayout(
      join(dir, 'oci'),
      [readFileSync(join(dir, 'base.tar')), layerTar([{ path: 'hello', content: 'hi from layer\n' }])],
      { Env: ['PATH=/bin'] }
    );
    const archive = tarDir(join(dir, 'oci'), join(dir, 'img.oci.tar'));
    const imported = cli(['image', 'import', archive, '--name', 'bb'], env);
    expect(imported.status).toBe(0);
    expect(imported.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(imported.stderr).toMatch(/layer 2\/2 .* done/);
    expect(cli(['run', '--image', 'bb', '--', 'cat', '/hello'], env)).toMatchObject({
      status: 0,
      stdout: 'hi from layer\n',
    });
    const snap = cli(
      [
        'snapshot',
        '--image',
        'bb',
        '--name',
        'after',
        '--export',
        join(dir, 'after.oci.tar'),
        '--',
        'sh',
        '-c',
        'echo changed > /hello',
      ],
      env
    );
    expect(snap.status).toBe(0);
    expect(cli(['run', '--image', 'after', '--', 'cat', '/hello'], env).stdout).toBe('changed\n');
    expect(cli(['run', '--image', join(dir, 'after.oci.tar'), '--', 'cat', '/hello'], env).stdout).toBe('changed\n');
    expect(cli(['image', 'ls'], env).stdout).toMatch(/snapshot .* after/);
    expect(cli(['image', 'rm', 'bb'], env).status).toBe(0);
    expect(cli(['image', 'rm', 'after'], env).stderr).toMatch(/no image after/); // ambiguous: the snapshot and its re-import
    expect(cli(['run', '--image', 'bb', '--', 'true'], env).status).not.toBe(0);
  });
});

// The package as a user installs it: `npm pack`, then `npm install --ignore-scripts` of the
// tarball into a fresh project on a PATH without a C compiler, and a sandbox run from there
// with the prebuilt helper. Offline: the runtime dependencies are packed from our own node_modules.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { repoRoot } from '../helpers/dist.js';
import { requireFeature } from '../helpers/require-feature.js';

const npmCli = join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { files: string[] };
let dir: string;
let bin: string;
let project: string;
let packed: Array<{ path: string; mode: number }>;

function npm(args: string[], cwd: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [npmCli, ...args], {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      HOME: dir,
      npm_config_cache: join(dir, 'npm-cache'),
      npm_config_update_notifier: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

beforeAll(() => {
  for (const arch of ['x64', 'arm64']) {
    if (!existsSync(join(repoRoot, 'prebuilds', `linux-${arch}`, 'sandkit-helper')))
      throw new Error(`prebuilds/linux-${arch}/sandkit-helper is missing: run "npm run prebuilds" first`);
  }
  dir = mkdtempSync(join(tmpdir(), 'sandkit-pack-'));
  chmodSync(dir, 0o755);
  // No compiler on this PATH: only node.
  bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  // --ignore-scripts: packing must not rebuild dist/ under the other tests' feet (prepack and
  // prepare made it, and the prebuilds, before this run).
  const report = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repoRoot)) as Array<{
    filename: string;
    files: Array<{ path: string; mode: number }>;
  }>;
  packed = report[0]!.files;
  // Every runtime dependency, packed from our own node_modules (the install is offline).
  const deps = Object.keys((pkg as { dependencies?: Record<string, string> }).dependencies ?? {}).map(
    (name) =>
      (
        JSON.parse(
          npm(
            ['pack', '--ignore-scripts', '--json', '--pack-destination', dir, join(repoRoot, 'node_modules', name)],
            dir
          )
        ) as Array<{
          filename: string;
        }>
      )[0]!.filename
  );
  project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  npm(
    [
      'install',
      '--ignore-scripts',
      '--offline',
      '--no-audit',
      '--no-fund',
      ...deps.map((f) => join(dir, f)),
      join(dir, report[0]!.filename),
    ],
    project,
    { PATH: bin }
  );
}, 120_000);

afterAll(() => {
  if (dir) removeTreeSync(dir);
});

describe('the npm package', () => {
  it('holds only what it needs, and every `files` entry exists', () => {
    const paths = packed.map((f) => f.path);
    for (const entry of pkg.files.filter((f) => !f.startsWith('!')))
      expect(existsSync(join(repoRoot, entry)), entry).toBe(true);
    const allowed = [
      /^README\.md$/,
      /^LICENSE$/,
      /^package\.json$/,
      /^dist\/[\w.-]+\.(js|d\.ts)$/,
      /^native\/src\/[\w-]+\.[ch]$/,
      /^native\/Makefile$/,
      /^spec\/[\w-]+\.json$/,
      /^scripts\/(build-native|gen-steps|gen-protocol)\.mjs$/,
      /^prebuilds\/linux-(x64|arm64)\/sandkit-helper$/,
    ];
    expect(paths.filter((p) => !allowed.some((re) => re.test(p)))).toEqual([]);
    for (const arch of ['x64', 'arm64']) {
      const helper = packed.find((f) => f.path === `prebuilds/linux-${arch}/sandkit-helper`);
      expect(helper && helper.mode & 0o111, `prebuilt ${arch} helper is executable`).toBeTruthy();
    }
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/cli.js');
  });

  it('runs a sandbox from a project installed with --ignore-scripts and no compiler', () => {
    const installed = join(project, 'node_modules', 'sandkit');
    expect(existsSync(join(installed, 'native', 'build'))).toBe(false); // nothing was compiled
    writeFileSync(
      join(project, 'run.mjs'),
      [
        "import { Sandbox } from 'sandkit';",
        "const sandbox = new Sandbox({ network: 'none' });",
        "try { const r = await sandbox.run(['sh', '-c', 'echo hello from $(hostname)']); console.log(r.status, r.stdout.toString().trim()); }",
        'finally { await sandbox.destroy(); }',
      ].join('\n')
    );
    const env = { ...process.env, PATH: bin, SANDKIT_HELPER: '' };
    const lib = spawnSync(process.execPath, ['run.mjs'], { cwd: project, encoding: 'utf8', env, timeout: 60_000 });
    expect(lib.stderr).toBe('');
    expect(lib.stdout.trim()).toBe('ok hello from sandbox');
    const cli = spawnSync(
      process.execPath,
      [join(installed, 'dist', 'cli.js'), 'run', '--', 'sh', '-c', 'echo cli $((6*7))'],
      { cwd: project, encoding: 'utf8', env, timeout: 60_000 }
    );
    expect({ status: cli.status, stdout: cli.stdout, stderr: cli.stderr }).toEqual({
      status: 0,
      stdout: 'cli 42\n',
      stderr: '',
    });
  });

  it('ships static helpers; the arm64 one runs under qemu-user', (ctx) => {
    for (const arch of ['x64', 'arm64']) {
      const elf = readFileSync(
        join(project, 'node_modules', 'sandkit', 'prebuilds', `linux-${arch}`, 'sandkit-helper')
      );
      expect(elf.readUInt16LE(18), `${arch} e_machine`).toBe(arch === 'x64' ? 62 : 183);
      expect(elf.includes('/lib/ld-linux'), `${arch} has no dynamic loader`).toBe(false);
      expect(elf.includes('/lib64/ld-linux'), `${arch} has no dynamic loader`).toBe(false);
    }
    const qemu = spawnSync('qemu-aarch64-static', ['--version'], { encoding: 'utf8' });
    requireFeature(ctx, !qemu.error, 'qemu-aarch64-static is not installed (Debian: qemu-user-static)');
    const arm = spawnSync(
      'qemu-aarch64-static',
      [join(project, 'node_modules', 'sandkit', 'prebuilds', 'linux-arm64', 'sandkit-helper'), '--features'],
      { encoding: 'utf8', timeout: 30_000 }
    );
    expect(arm.status, arm.stderr).toBe(0);
    expect(JSON.parse(arm.stdout)).toMatchObject({ version: 1, helperVersion: expect.any(String) });
    expect(
      statSync(join(project, 'node_modules', 'sandkit', 'prebuilds', 'linux-arm64', 'sandkit-helper')).mode & 0o111
    ).toBeTruthy();
  });
});

// bullmq is an optional peer dependency: `import 'sandkit'` must never load it; only
// `sandkit/queue` (and the CLI's worker and submit commands) do.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { dist, repoRoot } from '../helpers/dist.js';

// A resolve hook that makes bullmq (and ioredis) impossible to load, as in an install without them.
const HOOK = `export async function resolve(specifier, context, next) {
  if (/^(bullmq|ioredis)(\\/|$)/.test(specifier)) throw Object.assign(new Error('blocked: ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}`;

function importWithoutBullmq(code: string): { status: number | null; stdout: string; stderr: string } {
  const register = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}));`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', `${register}\n${code}`], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

it('import "sandkit" works without bullmq installed; "sandkit/queue" is what needs it', () => {
  const core = importWithoutBullmq(
    `const m = await import(${JSON.stringify(dist.index)}); console.log(typeof m.Sandbox);`
  );
  expect(core.stderr).toBe('');
  expect(core.stdout.trim()).toBe('function');
  const queue = importWithoutBullmq(`await import(${JSON.stringify(join(repoRoot, 'dist', 'queue.js'))});`);
  expect(queue.status).not.toBe(0);
  expect(queue.stderr).toMatch(/blocked: bullmq/);
});

it('the CLI runs without bullmq, and worker/submit say what is missing', () => {
  const help = importWithoutBullmq(
    `process.argv = [process.argv[0], 'sandkit', '--help']; await import(${JSON.stringify(dist.cli)});`
  );
  expect(help.stdout).toMatch(/worker +take jobs from a queue/);
  expect(help.stdout).toMatch(/submit +submit a job/);
  const worker = importWithoutBullmq(
    `process.argv = [process.argv[0], 'sandkit', 'worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'q']; await import(${JSON.stringify(dist.cli)});`
  );
  expect(worker.stderr).toMatch(/need the bullmq package: npm install bullmq/);
});

it('package.json exports sandkit/queue and declares bullmq an optional peer', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  expect(pkg.exports!['./queue']).toEqual({ types: './dist/queue.d.ts', import: './dist/queue.js' });
  expect(pkg.peerDependencies!.bullmq).toMatch(/^\^5/);
  expect(pkg.peerDependenciesMeta!.bullmq).toEqual({ optional: true });
});

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dist, repoRoot } from '../helpers/dist.js';

// kill -9 of the helper at each point of a spawn's life, inside a child Node process: the spawn
// must reject with a SandboxError (or, after its exit, keep its result), the sandbox must say
// it failed exactly once, a new sandbox must work, and the child must run to its end. Before
// holds were owned objects, a death just after the spawn request went out released the
// keep-alive hold twice and Node exited 0 with no output.
const CHILD = join(repoRoot, 'test', 'fixtures', 'helper-death-child.mjs');

interface ChildReport {
  point: string;
  outcome: { resolved?: string; rejected?: string };
  failed: Array<{ code: string; process: string | null }>;
  again: string;
}

function runChild(point: string, delay = 0): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, dist.index, point, String(delay)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const POINTS: Array<[string, number]> = [
  ['before-send', 0],
  ...[0, 1, 2, 3, 4, 5].map((ms) => ['after-send', ms] as [string, number]),
  ['after-spawned', 0],
  ['during-output', 0],
  ['after-exit', 0],
];

describe('kill -9 of the helper during a spawn', () => {
  it.concurrent.for(POINTS)(
    '%s (+%d ms): the spawn says so and Node runs to the end',
    { timeout: 90_000 },
    async ([point, delay]) => {
      const { status, stdout, stderr } = await runChild(point, delay);
      expect(stdout, `the child stopped early (status ${status}): ${stderr}`).toMatch(/\nDONE\n$/);
      expect(status).toBe(0);
      const report = JSON.parse(stdout.split('\n')[0]!) as ChildReport;
      if (point === 'after-exit') expect(report.outcome).toEqual({ resolved: 'ok' });
      else expect(report.outcome).toEqual({ rejected: 'ERR_SANDBOX_HELPER' });
      // The sandbox died with the helper: one `failed`, for the sandbox, none per spawn.
      expect(report.failed).toEqual([{ code: 'ERR_SANDBOX_HELPER', process: null }]);
      expect(report.again).toBe('again\n');
    }
  );
});

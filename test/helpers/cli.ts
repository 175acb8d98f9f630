import { spawn } from 'node:child_process';
import { dist } from './dist.js';

/** What one run of the CLI printed, and how it exited. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/cli.js ...args` with `input` on its stdin and `env` over this process's
 * environment. A CLI that hangs is killed (SIGKILL) after 30 s, so it cannot outlive the run.
 */
export function runCli(
  args: string[],
  { input = '', env = {} }: { input?: string; env?: Record<string, string> } = {}
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [dist.cli, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d) => {
      out.stdout += d;
    });
    child.stderr.on('data', (d) => {
      out.stderr += d;
    });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, ...out }));
    child.stdin.end(input);
  });
}

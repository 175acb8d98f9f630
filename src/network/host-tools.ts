import { spawn } from 'node:child_process';
import { SandboxSetupError, SandboxUnsupportedError } from '../errors/sandbox-error.js';
import type { SetupStep } from '../errors/steps.js';
import { OWNED_COMMAND_MISSING, ownedCommand } from '../platform/owned-command.js';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs `ip` or `nft` with a script on stdin (`ip -batch -`, `nft -f -`), once per network:
 * per-sandbox work goes through the helper instead. Rejects with a SandboxSetupError naming
 * `step`, with the tool's first line of stderr, or SandboxUnsupportedError when it is missing.
 */
export function runTool(
  step: SetupStep,
  tool: 'ip' | 'nft',
  args: string[],
  input: string,
  operation = 'network'
): Promise<void> {
  return new Promise((resolve, reject) => {
    // Through run-owned: the tool dies with this process, never left half-way as an orphan.
    const child = spawn(...ownedCommand(tool, args), { stdio: ['pipe', 'ignore', 'pipe'], env: { PATH } });
    const missing = () =>
      new SandboxUnsupportedError(
        [tool],
        `install ${tool === 'nft' ? 'nftables (the nft command)' : 'iproute2 (the ip command)'}`
      );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? missing() : err);
    });
    child.on('close', (code) => {
      if (code === 0) return resolve();
      if (code === OWNED_COMMAND_MISSING) return reject(missing());
      const detail = `${tool} ${args.join(' ')}: ${stderr.trim().split('\n')[0] ?? ''} (exit ${code})`;
      reject(
        new SandboxSetupError(operation, { step, syscall: null, errno: null, errnoCode: null, path: null, detail })
      );
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** The same, ignoring failure (cleanup of what may already be gone). */
export async function runToolQuietly(tool: 'ip' | 'nft', args: string[], input: string): Promise<void> {
  await runTool('net.bridge', tool, args, input).catch(() => {});
}

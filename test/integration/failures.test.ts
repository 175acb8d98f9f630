import { existsSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { SandboxError, SandboxHelperError } from '../../src/index.js';
import { hostProcesses, isAlive, sandboxDirsUnder, stateRoot, waitUntil } from '../helpers/host.js';
import { it, whenSpawned } from '../helpers/sandboxes.js';

/** Pid of this process's sandkit helper (the supervisor), if it runs. */
function helperPid(): number | undefined {
  return hostProcesses().find(
    (p) => p.ppid === process.pid && p.state !== 'Z' && p.cmdline[0]?.endsWith('sandkit-helper')
  )?.pid;
}

// Things dying under the SDK's feet: the failing calls reject, the rest stays usable.
describe('when a sandbox dies from outside', () => {
  it('a killed init fails the sandbox: its spawn ends, new spawns reject, destroy still cleans up', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    const failed: SandboxError[] = [];
    sb.on('failed', ({ error }) => failed.push(error));
    const proc = sb.spawn(['sleep', '600']);
    const pid = await whenSpawned(sb, proc);
    const dir = sandboxDirsUnder(stateRoot()).find((d) => d.endsWith(sb.id));
    process.kill(sb.pid!, 'SIGKILL');

    // The program did not end, its sandbox did: the spawn says so (not a plain `signaled`).
    await expect(proc).rejects.toMatchObject({ code: 'ERR_SANDBOX_DIED', signal: 'SIGKILL' });
    expect(await waitUntil(() => !isAlive(pid))).toBe(true);
    expect(await waitUntil(() => sb.state === 'failed')).toBe(true);
    expect(failed.map((e) => e.code)).toEqual(['ERR_SANDBOX_DIED']); // once, for the sandbox
    await expect(sb.run(['true'])).rejects.toBeInstanceOf(SandboxError);

    await sb.destroy();
    expect(sb.state).toBe('destroyed');
    expect(existsSync(dir!)).toBe(false);
  });

  it('a killed helper rejects what was running with SandboxHelperError, and the next sandbox works', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    const proc = sb.spawn(['sleep', '600']);
    const pid = await whenSpawned(sb, proc);
    const helper = helperPid();
    expect(helper).toBeDefined();
    process.kill(helper!, 'SIGKILL');

    await expect(proc).rejects.toBeInstanceOf(SandboxHelperError);
    expect(await waitUntil(() => !isAlive(pid) && !isAlive(sb.pid!))).toBe(true);
    await sb.destroy();

    const next = sandbox();
    expect((await next.run(['echo', 'again'])).stdout).toBe('again\n');
    expect(helperPid()).not.toBe(helper);
  });
});

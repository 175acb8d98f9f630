import { describe, expect } from 'vitest';
import { processesRunning, waitUntil } from '../helpers/host.js';
import { PROBE } from '../helpers/probe.js';
import { it } from '../helpers/sandboxes.js';

let counter = 0;
/** A sleep duration no other process on the host uses, to find the daemon by its command line. */
function uniqueSeconds(): string {
  return String(900_000 + process.pid * 100 + ++counter);
}

// The reaper is PID 1 of the spawn's pid namespace: when the command exits, everything it left
// running dies with the namespace, however it detached itself.
describe('a daemon does not outlive its spawn', () => {
  it('setsid sleep dies when the shell that started it exits', async ({ sandbox }) => {
    const seconds = uniqueSeconds();
    const proc = sandbox().spawn(['sh', '-c', `setsid sleep ${seconds} & echo started; read line`]);
    for await (const line of proc) if (line === 'started') break;
    // While the shell runs, the daemon exists on the host.
    expect(await waitUntil(() => processesRunning(['sleep', seconds]).length === 1)).toBe(true);
    proc.stdin.end('\n');
    const result = await proc;
    expect(result.exitCode).toBe(0);
    expect(await waitUntil(() => processesRunning(['sleep', seconds]).length === 0)).toBe(true);
  });

  it('a double-forked daemon that closed its stdio dies too, and the result still comes back', async ({ sandbox }) => {
    const marker = `/tmp/daemon-${uniqueSeconds()}`;
    const sb = sandbox();
    const result = await sb.run([PROBE, 'daemon', marker]);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'daemonized\n' });
    // The daemon wrote its marker (so it did run) and is gone from the host.
    expect(await waitUntil(() => processesRunning([PROBE, 'daemon', marker]).length === 0)).toBe(true);
    const check = await sb.run(['cat', marker]);
    expect(check.stdout).toMatch(/^\d+\n$/);
  });

  it('a daemon dies with its spawn even while the sandbox keeps running other spawns', async ({ sandbox }) => {
    const seconds = uniqueSeconds();
    const sb = sandbox();
    const keeper = sb.spawn(['sleep', '600']);
    const result = await sb.run(['sh', '-c', `setsid sleep ${seconds} </dev/null >/dev/null 2>&1 & echo $!`]);
    expect(result.stdout).toMatch(/^\d+\n$/);
    expect(await waitUntil(() => processesRunning(['sleep', seconds]).length === 0)).toBe(true);
    expect(keeper.exited).toBe(false);
    keeper.kill('SIGKILL');
    await keeper;
  });
});

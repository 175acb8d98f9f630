import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { LayerStore, SandboxAbortedError, SandboxDiedError, Snapshot, type SandboxEvents } from '../../src/index.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { stateRoot, waitUntil, isAlive } from '../helpers/host.js';
import { it, whenSpawned } from '../helpers/sandboxes.js';

type Failed = SandboxEvents['failed'][0];

describe('a sandbox whose init is killed from outside', () => {
  it('fails its running programs with SandboxDiedError and says `failed` once', async ({ sandbox }) => {
    const sb = sandbox();
    const failed: Failed[] = [];
    sb.on('failed', (ev) => failed.push(ev));
    const procs = [sb.spawn(['sleep', '1000']), sb.spawn(['sleep', '1000'])];
    await Promise.all(procs.map((p) => whenSpawned(sb, p)));
    process.kill(sb.pid!, 'SIGKILL');
    for (const p of procs) {
      const err = await p.then(
        () => null,
        (e: unknown) => e
      );
      expect(err).toBeInstanceOf(SandboxDiedError);
      expect(err).toMatchObject({ code: 'ERR_SANDBOX_DIED', signal: 'SIGKILL' });
    }
    await waitUntil(() => sb.state === 'failed', 2000);
    expect(sb.state).toBe('failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.process).toBeUndefined();
    expect(failed[0]!.error).toBeInstanceOf(SandboxDiedError);
    expect((failed[0]!.error as Error).message).toMatch(/its init died \(SIGKILL\)/);
    // Later calls get the same typed failure; destroy still cleans up.
    await expect(sb.run(['true'])).rejects.toBeInstanceOf(SandboxDiedError);
    await sb.destroy();
    expect(sb.state).toBe('destroyed');
  });
});

describe('a spawn aborted after it started', () => {
  it('is killed, rejects, leaves the running set and emits `failed` naming it', async ({ sandbox }) => {
    const sb = sandbox();
    const failed: Failed[] = [];
    const exits: string[] = [];
    sb.on('failed', (ev) => failed.push(ev));
    sb.on('exit', ({ process }) => exits.push(process.id));
    const ac = new AbortController();
    const proc = sb.spawn(['sleep', '1000'], { signal: ac.signal });
    const pid = await whenSpawned(sb, proc);
    ac.abort();
    await expect(proc).rejects.toBeInstanceOf(SandboxAbortedError);
    expect(await waitUntil(() => !isAlive(pid), 2000)).toBe(true);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.process).toEqual({ id: proc.id, command: ['sleep', '1000'] });
    expect(failed[0]!.error).toBeInstanceOf(SandboxAbortedError);
    expect(exits).toEqual([]);
    expect(sb.state).toBe('running'); // one spawn failed, not the sandbox
    expect((await sb.run(['echo', 'still'])).stdout).toBe('still\n');
  });

  it('does not block a later snapshot of a sandbox without cgroups', async ({ sandbox, tempDir }) => {
    // Without cgroups there is no freezer: a snapshot needs no program running, so a spawn
    // left in the running set after its abort would refuse it for ever.
    const stateDir = mkdtempSync(join(stateRoot(), 'nocg-'));
    process.env.SANDKIT_NO_CGROUPS = '1';
    try {
      const sb = sandbox({ stateDir });
      await sb.start();
      const ac = new AbortController();
      const proc = sb.spawn(['sleep', '1000'], { signal: ac.signal });
      await whenSpawned(sb, proc);
      ac.abort();
      await proc.then(
        () => {},
        () => {}
      );
      const snap = await sb.snapshot({ store: new LayerStore(join(tempDir(), 'store')) });
      expect(snap).toBeInstanceOf(Snapshot);
      await sb.destroy();
    } finally {
      delete process.env.SANDKIT_NO_CGROUPS;
      removeTreeSync(stateDir);
    }
  });
});

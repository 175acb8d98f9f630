import { existsSync } from 'node:fs';
import { describe, expect } from 'vitest';
import { SETUP_STEPS, Sandbox, SandboxDestroyedError, SandboxError, type SandboxEvents } from '../../src/index.js';
import { isAlive, sandboxDirsUnder, stateRoot, waitUntil } from '../helpers/host.js';
import { probeMount } from '../helpers/probe.js';
import { it, whenSpawned } from '../helpers/sandboxes.js';

const LIFECYCLE_EVENTS = [
  'created',
  'starting',
  'started',
  'spawn',
  'exit',
  'destroying',
  'destroyed',
  'failed',
] as const;

/** Records the names of a sandbox's lifecycle events in order. */
function recordEvents(sb: Sandbox): string[] {
  const seen: string[] = [];
  for (const name of LIFECYCLE_EVENTS) sb.on(name as keyof SandboxEvents, () => seen.push(name));
  return seen;
}

function dirOf(sb: Sandbox): string | undefined {
  return sandboxDirsUnder(stateRoot()).find((d) => d.endsWith(`/${sb.id}`));
}

describe('lifecycle', () => {
  it('emits created, starting, started, spawn, exit, destroying, destroyed in order', async ({ sandbox }) => {
    const sb = sandbox();
    const seen = recordEvents(sb);
    const steps: string[] = [];
    sb.on('step', ({ step }) => steps.push(step));
    const started = new Promise<SandboxEvents['started'][0]>((resolve) => sb.once('started', resolve));
    expect(sb.state).toBe('created');
    await sb.run(['true']);
    expect(sb.state).toBe('running');
    const info = await started;
    expect(info).toMatchObject({ id: sb.id, pid: sb.pid });
    expect(info.setupMs).toBeGreaterThan(0);
    await sb.destroy();
    expect(sb.state).toBe('destroyed');
    expect(seen).toEqual(['created', 'starting', 'started', 'spawn', 'exit', 'destroying', 'destroyed']);
    expect(steps).toContain('rootfs.overlay');
    for (const step of steps) expect(SETUP_STEPS).toContain(step);
  });

  it("a program's output is never reported before its spawn event", async ({ sandbox }) => {
    const sb = sandbox();
    const order = new Map<string, string[]>();
    const note = (id: string, what: string) => order.set(id, [...(order.get(id) ?? []), what]);
    sb.on('spawn', ({ process }) => note(process.id, 'spawn'));
    sb.on('stdout', ({ process }) => note(process.id, 'stdout'));
    await sb.start();
    for (let i = 0; i < 20; i++) await sb.run(['echo', 'hi']);
    for (const [id, events] of order) expect(events[0], `events of ${id}: ${events.join(', ')}`).toBe('spawn');
    expect(order.size).toBe(20);
  });

  it('start() builds the sandbox without a spawn, and is idempotent', async ({ sandbox }) => {
    const sb = sandbox();
    const seen = recordEvents(sb);
    await Promise.all([sb.start(), sb.start()]);
    await sb.start();
    expect(seen).toEqual(['created', 'starting', 'started']);
    expect(isAlive(sb.pid!)).toBe(true);
  });

  it('destroy() is idempotent and emits destroyed once', async ({ sandbox }) => {
    const sb = sandbox();
    const seen = recordEvents(sb);
    await sb.run(['true']);
    await Promise.all([sb.destroy(), sb.destroy()]);
    await sb.destroy();
    expect(seen.filter((e) => e === 'destroyed')).toHaveLength(1);
  });

  it('destroying a sandbox that never started needs no helper and leaves nothing', async () => {
    const sb = new Sandbox({ mounts: [probeMount()] });
    const seen = recordEvents(sb);
    await sb.destroy();
    expect(seen).toEqual(['created', 'destroying', 'destroyed']);
    expect(sb.pid).toBeUndefined();
  });

  it('await using destroys the sandbox at the end of the block', async () => {
    let escaped: Sandbox | undefined;
    let init = 0;
    {
      await using sb = new Sandbox({ mounts: [probeMount()] });
      escaped = sb;
      expect((await sb.run(['true'])).exitCode).toBe(0);
      init = sb.pid!;
      expect(isAlive(init)).toBe(true);
    }
    expect(escaped.state).toBe('destroyed');
    expect(await waitUntil(() => !isAlive(init))).toBe(true);
  });

  it('spawn, run and start after destroy fail with SandboxDestroyedError', async ({ sandbox }) => {
    const sb = sandbox();
    await sb.run(['true']);
    await sb.destroy();
    expect(() => sb.spawn(['true'])).toThrow(SandboxDestroyedError);
    await expect(sb.run(['true'])).rejects.toBeInstanceOf(SandboxDestroyedError);
    await expect(sb.start()).rejects.toMatchObject({ code: 'ERR_SANDBOX_DESTROYED' });
  });

  it('destroy while a program runs kills it and every process of the sandbox', async ({ sandbox }) => {
    const sb = sandbox();
    const proc = sb.spawn(['sh', '-c', 'sleep 600 & echo ready; wait']);
    for await (const line of proc) if (line === 'ready') break;
    const other = sb.spawn(['sleep', '600']);
    await Promise.all([whenSpawned(sb, proc), whenSpawned(sb, other)]);
    const pids = [sb.pid!, proc.pid!, other.pid!];
    expect(pids.map((pid) => [pid, isAlive(pid)])).toEqual(pids.map((pid) => [pid, true]));
    await sb.destroy();
    const [a, b] = await Promise.all([proc, other]);
    expect(a.signal).toBe('SIGKILL');
    expect(b.signal).toBe('SIGKILL');
    expect(pids.filter(isAlive)).toEqual([]);
  });

  // SandboxAbortedError's contract: "aborted by an AbortSignal or by destroying the sandbox".
  it.for(['before the sandbox started', 'after the sandbox started'])(
    'destroy() right after spawn() %s rejects it as aborted/destroyed, not as a setup failure',
    async (when, { sandbox }) => {
      const sb = sandbox();
      if (when.startsWith('after')) await sb.start();
      const proc = sb.spawn(['sleep', '600']);
      await sb.destroy();
      const err = await proc.then(
        () => undefined,
        (e: unknown) => e
      );
      expect(err).toBeInstanceOf(SandboxError);
      expect(['ERR_SANDBOX_ABORTED', 'ERR_SANDBOX_DESTROYED'], `got ${String(err)}`).toContain(
        (err as SandboxError).code
      );
    }
  );

  it('after destroy no directory of the sandbox remains', async ({ sandbox }) => {
    // No disk limit: the writable layer is on the host's disk (by default it is in the sandbox's tmpfs).
    const sb = sandbox({ limits: 'unlimited' });
    await sb.run(['sh', '-c', 'mkdir -p /a/b/c && echo x > /a/b/c/f && chmod 000 /a/b/c /a/b']);
    const dir = dirOf(sb);
    expect(dir).toBeDefined();
    expect(existsSync(`${dir}/upper/a`)).toBe(true);
    await sb.destroy();
    expect(existsSync(dir!)).toBe(false);
    expect(dirOf(sb)).toBeUndefined();
  });
});

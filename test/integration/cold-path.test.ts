// The cold path of a sandbox: `new Sandbox(opts).spawn(cmd)` sends its create and first spawn to
// the helper in one message (spec/protocol.json, create.spawn), with the same events and errors
// as two round trips would give; destroy() resolves once nothing of the sandbox is left under a
// name the caller knows, and finishes the rest (its directory tree, its cgroup) right after.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it as plainIt, vi } from 'vitest';
import { helperConnection } from '../../src/helper/helper-connection.js';
import { helperPath } from '../../src/helper/helper-path.js';
import { pendingRemovals } from '../../src/platform/background-removal.js';
import { requireFeature } from '../helpers/require-feature.js';
import { sandboxDirsUnder, stateRoot, waitUntil } from '../helpers/host.js';
import { it } from '../helpers/sandboxes.js';

/** The request types the SDK sends while `fn` runs (the real requests, only recorded). */
async function requestsDuring(fn: () => Promise<void>): Promise<string[]> {
  const conn = helperConnection();
  const original = conn.request.bind(conn) as (...args: unknown[]) => unknown;
  const sent: string[] = [];
  const spy = vi.spyOn(conn, 'request').mockImplementation(((type: string, ...body: unknown[]) => {
    sent.push(type);
    return original(type, ...body);
  }) as typeof conn.request);
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return sent;
}

describe('one round trip for a cold sandbox', () => {
  it('sends the first spawn with the create, and later spawns on their own', async ({ sandbox }) => {
    const sb = sandbox();
    const events: string[] = [];
    for (const name of ['created', 'starting', 'started', 'spawn', 'exit'] as const)
      sb.on(name, () => events.push(name));
    const first = await requestsDuring(async () => {
      const r = await sb.spawn(['sh', '-c', 'echo first; echo $$']);
      expect(r).toMatchObject({ exitCode: 0, stdout: 'first\n2\n' });
    });
    expect(first.filter((t) => t === 'create' || t === 'spawn')).toEqual(['create']);
    expect(events).toEqual(['created', 'starting', 'started', 'spawn', 'exit']);
    const second = await requestsDuring(async () => {
      expect((await sb.run(['echo', 'second'])).stdout).toBe('second\n');
    });
    expect(second).toEqual(['spawn']);
  });

  it('a first spawn that cannot be prepared fails alone; the sandbox starts and runs the next', async ({ sandbox }) => {
    const sb = sandbox();
    await expect(sb.run(['true'], { user: 'no-such-user' })).rejects.toMatchObject({ code: 'ERR_SANDBOX_OPTIONS' });
    expect(sb.state).toBe('running');
    expect((await sb.run(['echo', 'ok'])).stdout).toBe('ok\n');
  });
});

describe('a first spawn whose create fails', () => {
  const hasStrace = spawnSync('strace', ['-V']).status === 0;
  afterEach(() => {
    delete process.env.SANDKIT_HELPER;
    delete process.env.SANDKIT_INJECT;
  });

  plainIt("rejects with the create's error, named by its step, and the sandbox fails once", async (ctx) => {
    requireFeature(ctx, hasStrace, 'needs strace (Debian package strace)');
    process.env.SANDKIT_REAL_HELPER = helperPath();
    process.env.SANDKIT_HELPER = join(__dirname, '..', 'fixtures', 'strace-helper.sh');
    process.env.SANDKIT_INJECT = 'pivot_root:error=EINVAL';
    vi.resetModules();
    const { Sandbox, SandboxSetupError } = await import('../../src/index.js');
    const sb = new Sandbox();
    const events: string[] = [];
    sb.on('spawn', () => events.push('spawn'));
    sb.on('failed', (ev) => events.push(ev.process ? `failed ${ev.process.id}` : 'failed'));
    try {
      const err = await sb.spawn(['true']).then(
        () => null,
        (e: unknown) => e
      );
      expect(err).toBeInstanceOf(SandboxSetupError);
      expect(err).toMatchObject({ step: 'pivot_root', syscall: 'pivot_root', errnoCode: 'EINVAL' });
      expect((err as Error).message).toMatch(/^start: pivot_root: /);
      expect(sb.state).toBe('failed');
      expect(events).toEqual(['failed']);
    } finally {
      await sb.destroy();
    }
  });
});

describe('destroy', () => {
  it('resolves with the directory gone, and the rest of the removal ends soon after', async ({ sandbox }) => {
    const sb = sandbox({ limits: 'unlimited' }); // the writable layer on the host's disk
    await sb.run(['sh', '-c', 'mkdir -p /w/a/b && head -c 100000 /dev/zero > /w/a/b/f']);
    await sb.destroy();
    expect(sandboxDirsUnder(stateRoot()).filter((d) => d.endsWith(`/${sb.id}`))).toEqual([]);
    expect(await waitUntil(() => pendingRemovals() === 0, 10_000)).toBe(true);
    const removing = (dir: string): string[] =>
      existsSync(dir)
        ? readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
            !e.isDirectory() ? [] : e.name.startsWith('.removing-') ? [e.name] : removing(join(dir, e.name))
          )
        : [];
    expect(removing(join(stateRoot(), 'sessions'))).toEqual([]);
  });
});

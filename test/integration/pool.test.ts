import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import {
  Image,
  LayerStore,
  Sandbox,
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxError,
  SandboxOptionsError,
  SandboxPool,
  type SandboxPoolOptions,
  type SandboxPoolStats,
} from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';
import { busyboxRootfs } from '../helpers/images.js';
import { isAlive, waitUntil } from '../helpers/host.js';

const HOST = { image: Image.host(), network: 'none' } as const;

/** A pool destroyed after the test whatever happens, and its stats checked for no leftovers. */
async function withPool<T>(options: SandboxPoolOptions, body: (pool: SandboxPool) => Promise<T>): Promise<T> {
  const pool = new SandboxPool(options);
  try {
    return await body(pool);
  } finally {
    await pool.destroy();
    expect(pool.stats()).toMatchObject({ idle: 0, busy: 0, refilling: 0, destroying: 0, waiting: 0 });
    expect(pool.stats().destroyed).toBe(pool.stats().created);
  }
}

describe('SandboxPool options', () => {
  it.each([
    ['size', { size: -1 }],
    ['size', { size: 1.5 }],
    ['size', { size: '4' }],
    ['size', {}],
    ['refillConcurrency', { size: 1, refillConcurrency: 0 }],
    ['maxRefillFailures', { size: 1, maxRefillFailures: Number.NaN }],
    ['bogus', { size: 1, bogus: true }],
    ['hostname', { size: 1, hostname: 'not a label' }],
    ['options', null],
  ])('rejects a bad %s with SandboxOptionsError naming it', (field, options) => {
    let thrown: unknown;
    try {
      new SandboxPool(options as unknown as SandboxPoolOptions);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SandboxOptionsError);
    expect((thrown as SandboxOptionsError).field).toBe(field);
  });

  it('rejects a bad command before taking a sandbox', async () => {
    await withPool({ size: 1, ...HOST }, async (pool) => {
      await expect(pool.run([] as string[])).rejects.toBeInstanceOf(SandboxOptionsError);
      await expect(pool.run(['true'], { bogus: 1 } as never)).rejects.toMatchObject({ field: 'bogus' });
      await expect(pool.acquire({ signal: 5 } as never)).rejects.toMatchObject({ field: 'signal' });
      await pool.ready();
      expect(pool.stats()).toMatchObject({ idle: 1, busy: 0, created: 1 });
    });
  });
});

describe('SandboxPool', () => {
  it('hands out a started sandbox at once when warm, and starts a replacement', async () => {
    await withPool({ size: 2, ...HOST }, async (pool) => {
      const refills: string[] = [];
      const ready: number[] = [];
      let exhausted = 0;
      pool.on('refill', (e) => refills.push(e.id));
      pool.on('ready', (e) => ready.push(e.idle));
      pool.on('exhausted', () => exhausted++);
      await pool.ready();
      expect(pool.stats()).toMatchObject({ idle: 2, busy: 0, refilling: 0, created: 2, waits: 0 });
      expect(ready).toEqual([2]);
      const sandbox = await pool.acquire();
      expect(sandbox).toBeInstanceOf(Sandbox);
      expect(sandbox.state).toBe('running'); // its init is up: the spawn goes straight in
      expect(sandbox.pid).toBeGreaterThan(0);
      expect(refills).toContain(sandbox.id);
      expect(exhausted).toBe(0);
      expect(pool.stats()).toMatchObject({ idle: 1, busy: 1, refilling: 1 });
      expect((await sandbox.run(['sh', '-c', 'echo $$'])).stdout).toBe('2\n');
      const pid = sandbox.pid!;
      await sandbox.destroy(); // the owner's destroy is the release
      expect(isAlive(pid)).toBe(false);
      expect(pool.stats().busy).toBe(0);
      await pool.ready();
      expect(pool.stats()).toMatchObject({ idle: 2, created: 3, destroyed: 1 });
      expect(ready).toEqual([2, 2]);
    });
  });

  it('makes acquire wait when empty; an abort rejects it typed and removes the waiter', async () => {
    await withPool({ size: 1, refillConcurrency: 1, ...HOST }, async (pool) => {
      const exhausted: number[] = [];
      pool.on('exhausted', (e) => exhausted.push(e.waiting));
      await pool.ready();
      const first = await pool.acquire();
      // The replacement is still starting: these wait.
      const controller = new AbortController();
      const aborted = pool.acquire({ signal: controller.signal });
      const waiting = pool.acquire();
      expect(pool.stats()).toMatchObject({ idle: 0, waiting: 2, waits: 2 });
      expect(exhausted).toEqual([1, 2]);
      controller.abort(new Error('client went away'));
      const err = await aborted.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxAbortedError);
      expect((err as SandboxAbortedError).cause).toMatchObject({ message: 'client went away' });
      expect(pool.stats().waiting).toBe(1);
      const second = await waiting;
      expect(second.state).toBe('running');
      expect(second.id).not.toBe(first.id);
      // An already aborted signal rejects at once, without waiting or taking a sandbox.
      await expect(pool.acquire({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(SandboxAbortedError);
      await Promise.all([pool.release(first), pool.release(second)]);
      expect(pool.stats().busy).toBe(0);
    });
  });

  it('never hands a sandbox out twice: what one user wrote, the next does not see', async () => {
    await withPool({ size: 2, ...HOST }, async (pool) => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const sandbox = await pool.acquire();
        expect(seen.has(sandbox.id)).toBe(false);
        seen.add(sandbox.id);
        const r = await sandbox.run([
          'sh',
          '-c',
          'ls /tmp/mark* /mark* 2>/dev/null; echo $RANDOM > /tmp/mark-$$; touch /mark; sleep 30 >/dev/null 2>&1 & echo up',
        ]);
        expect(r.stdout).toBe('up\n'); // nothing left by an earlier user, in /tmp or the root
        await pool.release(sandbox);
        expect(sandbox.state).toBe('destroyed');
      }
      // pool.run too: each call a sandbox of its own
      const ids = await Promise.all(
        Array.from({ length: 4 }, () => pool.run(['sh', '-c', 'test ! -e /mark && touch /mark && hostname']))
      );
      expect(ids.map((r) => r.exitCode)).toEqual([0, 0, 0, 0]);
    });
  });

  it('runs from a snapshot: every sandbox starts from its state, none sees another', async ({ sandbox, tempDir }) => {
    const dir = tempDir();
    const store = new LayerStore(join(dir, 'store'));
    const build = sandbox({ image: Image.fromDirectory(busyboxRootfs(join(dir, 'rootfs'))) });
    await build.run(['/bin/sh', '-c', 'mkdir -p /app && echo v1 > /app/version']);
    const snap = await build.snapshot({ store });
    await build.destroy();
    await withPool({ size: 2, image: snap }, async (pool) => {
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          pool.run(['/bin/sh', '-c', `cat /app/version; ls /app; echo ${i} > /app/user-${i}`])
        )
      );
      for (const r of results) expect(r.stdout).toBe('v1\nversion\n');
    });
  });

  it('refills at most refillConcurrency at a time under a burst of 32 runs', async () => {
    await withPool({ size: 4, refillConcurrency: 2, ...HOST }, async (pool) => {
      await pool.ready();
      let maxRefilling = 0;
      const sample = (s: SandboxPoolStats) => {
        maxRefilling = Math.max(maxRefilling, s.refilling);
      };
      pool.on('refill', () => sample(pool.stats()));
      pool.on('exhausted', () => sample(pool.stats()));
      const timer = setInterval(() => sample(pool.stats()), 5);
      try {
        const results = await Promise.all(Array.from({ length: 32 }, () => pool.run(['sh', '-c', 'echo $$'])));
        expect(results.map((r) => r.stdout)).toEqual(Array(32).fill('2\n'));
      } finally {
        clearInterval(timer);
      }
      expect(maxRefilling).toBeGreaterThan(0);
      expect(maxRefilling).toBeLessThanOrEqual(2);
      // The first 4 came from the idle set; the rest were started 2 at a time for their waiters.
      const stats = pool.stats();
      expect(stats.waits).toBeGreaterThanOrEqual(32 - 4 - 2);
      expect(stats.waiting).toBe(0);
      expect(stats.created).toBeGreaterThanOrEqual(32);
    });
  });

  it('destroy rejects waiters, destroys idle and busy sandboxes and leaves nothing running', async () => {
    const pool = new SandboxPool({ size: 2, refillConcurrency: 1, ...HOST });
    await pool.ready();
    const busy = await pool.acquire();
    const other = await pool.acquire();
    const running = busy.spawn(['sleep', '60']);
    const result = running.then(
      (r) => r,
      (e: unknown) => e
    );
    const waiter = pool.acquire().catch((e: unknown) => e);
    const inits = [busy.pid!, other.pid!];
    let destroyedEvent = 0;
    pool.on('destroyed', () => destroyedEvent++);
    await pool.destroy();
    expect(destroyedEvent).toBe(1);
    expect(await waiter).toBeInstanceOf(SandboxAbortedError);
    expect(busy.state).toBe('destroyed');
    expect(other.state).toBe('destroyed');
    // The program in the busy sandbox was killed with it.
    const ended = await result;
    expect(ended instanceof SandboxError || (ended as { signal: string }).signal === 'SIGKILL').toBe(true);
    expect(await waitUntil(() => inits.every((pid) => !isAlive(pid)), 5000)).toBe(true);
    expect(pool.stats()).toMatchObject({ idle: 0, busy: 0, refilling: 0, destroying: 0, waiting: 0 });
    expect(pool.stats().destroyed).toBe(pool.stats().created);
    const after = await pool.acquire().catch((e: unknown) => e);
    expect(after).toBeInstanceOf(SandboxDestroyedError);
    expect((after as Error).message).toBe('pool.acquire: the pool is destroyed');
    await expect(pool.run(['true'])).rejects.toBeInstanceOf(SandboxDestroyedError);
    await pool.destroy(); // idempotent
  });

  it('destroys a pool that is still starting its sandboxes; `await using` destroys too', async () => {
    let pool: SandboxPool | undefined;
    {
      await using scoped = new SandboxPool({ size: 3, ...HOST });
      pool = scoped;
      expect(pool.stats().refilling).toBe(2);
    }
    expect(pool.stats()).toMatchObject({ idle: 0, refilling: 0, destroying: 0 });
    expect(pool.stats().destroyed).toBe(pool.stats().created);
  });

  it('backs off when refills fail, reports them typed, and rejects waiters with the cause', async ({ tempDir }) => {
    const rootfs = join(tempDir(), 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    const image = Image.fromDirectory(rootfs);
    rmSync(rootfs, { recursive: true }); // the image's directory is gone: every start fails
    await withPool({ size: 2, refillConcurrency: 1, maxRefillFailures: 3, image }, async (pool) => {
      const failures: Array<{ consecutive: number; retryInMs: number; error: SandboxError }> = [];
      pool.on('failed', (e) => {
        if (e.phase === 'refill') failures.push(e);
      });
      const waited = await pool.acquire().catch((e: unknown) => e);
      expect(waited).toBeInstanceOf(SandboxError);
      expect(waited).not.toBeInstanceOf(SandboxAbortedError);
      expect(failures.length).toBeGreaterThanOrEqual(3);
      expect(failures[2]!.error).toBe(waited);
      expect(failures.slice(0, 3).map((f) => f.consecutive)).toEqual([1, 2, 3]);
      expect(failures.slice(0, 3).map((f) => f.retryInMs)).toEqual([100, 200, 400]);
      // While failing, new callers are told at once instead of waiting forever.
      await expect(pool.acquire()).rejects.toBe(failures.at(-1)!.error);
      await expect(pool.ready()).rejects.toBeInstanceOf(SandboxError);
      // No spinning: the retries wait 100, 200, 400, 800 ms..., so ~1 s sees only a few tries.
      const before = pool.stats().created;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(pool.stats().created - before).toBeLessThanOrEqual(2);
    });
  });

  it('drops an idle sandbox whose init died and hands out a live replacement', async () => {
    await withPool({ size: 1, ...HOST }, async (pool) => {
      const refills: Array<{ id: string; pid: number }> = [];
      pool.on('refill', (e) => refills.push(e));
      await pool.ready();
      const victim = refills[0]!;
      process.kill(victim.pid, 'SIGKILL'); // the init of this pool's own idle sandbox
      expect(await waitUntil(() => refills.length === 2 && pool.stats().idle === 1, 20_000)).toBe(true);
      const sandbox = await pool.acquire();
      expect(sandbox.id).toBe(refills[1]!.id);
      expect(sandbox.id).not.toBe(victim.id);
      expect((await sandbox.run(['echo', 'alive'])).stdout).toBe('alive\n');
      await pool.release(sandbox);
    });
  });

  it('a size-0 pool starts a sandbox per acquire', async () => {
    await withPool({ size: 0, ...HOST }, async (pool) => {
      await pool.ready();
      expect(pool.stats()).toMatchObject({ idle: 0, refilling: 0, created: 0 });
      const r = await pool.run(['echo', 'hi']);
      expect(r.stdout).toBe('hi\n');
      expect(pool.stats()).toMatchObject({ idle: 0, waits: 1, created: 1 });
    });
  });
});

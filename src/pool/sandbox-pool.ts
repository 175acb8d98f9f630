import { EventEmitter } from 'eventemitter3';
import { performance } from 'node:perf_hooks';
import {
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxError,
  SandboxHelperError,
  SandboxOptionsError,
} from '../errors/sandbox-error.js';
import { resolveSpawnOptions, type SpawnOptions } from '../process/spawn-options.js';
import type { SpawnResult } from '../process/spawn-result.js';
import { Sandbox } from '../sandbox/sandbox.js';
import type { SandboxPoolEvents } from './pool-events.js';
import { resolvePoolOptions, type ResolvedPoolOptions, type SandboxPoolOptions } from './pool-options.js';

/** What a pool holds right now, and what it did so far. */
export interface SandboxPoolStats {
  /** Started sandboxes ready to hand out. */
  idle: number;
  /** Sandboxes handed out and not yet destroyed. */
  busy: number;
  /** Sandboxes being created and started now (never more than `refillConcurrency`). */
  refilling: number;
  /** Released (or failed) sandboxes whose teardown is still running. */
  destroying: number;
  /** `acquire()` calls waiting now. */
  waiting: number;
  /** `acquire()` calls that had to wait, in total. */
  waits: number;
  /** Sandboxes the pool made, in total. */
  created: number;
  /** Sandboxes of the pool that are gone, in total. */
  destroyed: number;
}

interface Waiter {
  give(sandbox: Sandbox): void;
  fail(error: SandboxError): void;
}

/** The first retry after a failed refill; each further failure in a row doubles it, up to the cap. */
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 5000;

/**
 * Keeps `size` sandboxes created and started in the background, so `acquire()` hands one out at
 * once and its first spawn goes straight in. A sandbox is never handed out twice: a released one
 * is destroyed and replaced, so nothing written by one user is seen by the next. At most
 * `refillConcurrency` sandboxes are being created at any time, whatever the demand; failed
 * refills back off (100 ms doubling to 5 s) and, after `maxRefillFailures` in a row, reject the
 * waiting callers with the failure.
 *
 * @example
 * await using pool = new SandboxPool({ size: 4, image: Image.host(), network: 'none' });
 * const result = await pool.run(['sh', '-c', 'echo hi']); // acquire, run, destroy
 *
 * @example
 * const sandbox = await pool.acquire({ signal: AbortSignal.timeout(5000) });
 * try {
 *   await sandbox.files.write('/tmp/main.py', code);
 *   await sandbox.run(['python3', '/tmp/main.py']);
 * } finally {
 *   await sandbox.destroy(); // or pool.release(sandbox); the pool starts a replacement
 * }
 *
 * @throws {SandboxOptionsError} from the constructor, when an option is invalid.
 */
export class SandboxPool extends EventEmitter<SandboxPoolEvents> implements AsyncDisposable {
  /** Started sandboxes the pool keeps idle. */
  readonly size: number;

  private readonly options: ResolvedPoolOptions;
  private readonly idle: Sandbox[] = [];
  private readonly idleWatch = new Map<Sandbox, (e: { process?: unknown }) => void>();
  private readonly busy = new Set<Sandbox>();
  private readonly waiters: Waiter[] = [];
  private readonly fullWaiters: Waiter[] = [];
  private readonly refills = new Set<Promise<void>>();
  private readonly teardowns = new Set<Promise<void>>();
  private refilling = 0;
  private consecutiveFailures = 0;
  private lastFailure: SandboxError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private waitsTotal = 0;
  private createdTotal = 0;
  private destroyedTotal = 0;
  private destroying: Promise<void> | undefined;

  constructor(options: SandboxPoolOptions) {
    super();
    this.options = resolvePoolOptions(options);
    this.size = this.options.size;
    this.fill();
  }

  /**
   * A started sandbox, at once when one is idle; otherwise waits for the next one started.
   * The caller owns it: destroy it (or `pool.release(it)`) when done.
   * @throws {SandboxAbortedError} when `signal` aborts first or the pool is destroyed while waiting;
   * {@link SandboxDestroyedError} when the pool is destroyed; the refill's own error (e.g.
   * {@link SandboxSetupError}) after `maxRefillFailures` failed refills in a row.
   */
  acquire(options: { signal?: AbortSignal } = {}): Promise<Sandbox> {
    return this.take(options, true);
  }

  /** acquire(); `refillNow: false` leaves starting the replacement to the caller (see run()). */
  private take(options: { signal?: AbortSignal }, refillNow: boolean): Promise<Sandbox> {
    if (typeof options !== 'object' || options === null)
      return Promise.reject(new SandboxOptionsError('options', 'expected { signal? }'));
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      return Promise.reject(new SandboxOptionsError('signal', 'expected an AbortSignal'));
    if (this.destroying) return Promise.reject(new SandboxDestroyedError('pool.acquire', 'the pool'));
    if (signal?.aborted) return Promise.reject(aborted(signal));
    const sandbox = this.takeIdle(refillNow);
    if (sandbox) return Promise.resolve(sandbox);
    if (this.failing()) return Promise.reject(this.lastFailure!);
    return new Promise<Sandbox>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(aborted(signal!));
      };
      const waiter: Waiter = {
        give: (sb) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(sb);
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.waitsTotal++;
      this.retryTimer?.ref();
      this.fill();
      this.emit('exhausted', { waiting: this.waiters.length });
    });
  }

  /**
   * Runs a program in a sandbox of its own: acquire, run, destroy (in the background; `destroy()`
   * of the pool waits for it). Options are those of `Sandbox.run`; `signal` also aborts the wait.
   * @throws {SandboxOptionsError} when the command or an option is invalid (before a sandbox is taken);
   * whatever {@link SandboxPool.acquire} and `Sandbox.run` throw.
   */
  run(command: readonly string[], options: SpawnOptions & { encoding: 'buffer' }): Promise<SpawnResult<Buffer>>;
  run(command: readonly string[], options?: SpawnOptions): Promise<SpawnResult>;
  async run(command: readonly string[], options: SpawnOptions = {}): Promise<SpawnResult<string | Buffer>> {
    resolveSpawnOptions(command, options, 'ignore');
    // The replacement starts once the program is done: a create running in the helper at the
    // same time would delay this very spawn, which is what the caller is waiting for.
    const sandbox = await this.take({ signal: options.signal }, false);
    try {
      return await sandbox.run(command, options);
    } finally {
      this.fill();
      this.discard(sandbox);
    }
  }

  /** Destroys a sandbox this pool handed out (the same as `sandbox.destroy()`); a replacement is already on its way. */
  release(sandbox: Sandbox): Promise<void> {
    if (!(sandbox instanceof Sandbox)) return Promise.reject(new SandboxOptionsError('sandbox', 'expected a Sandbox'));
    this.discard(sandbox);
    return sandbox.destroy();
  }

  /**
   * Resolves once `size` sandboxes are idle (at once if they are).
   * @throws the refill's error after `maxRefillFailures` failed refills in a row; {@link SandboxDestroyedError}.
   */
  ready(): Promise<void> {
    if (this.destroying) return Promise.reject(new SandboxDestroyedError('pool.ready', 'the pool'));
    if (this.idle.length >= this.size) return Promise.resolve();
    if (this.failing()) return Promise.reject(this.lastFailure!);
    return new Promise((resolve, reject) => this.fullWaiters.push({ give: () => resolve(), fail: reject }));
  }

  /** Counts of idle, busy, refilling and destroying sandboxes, waiting callers, and totals. */
  stats(): SandboxPoolStats {
    return {
      idle: this.idle.length,
      busy: this.busy.size,
      refilling: this.refilling,
      destroying: this.teardowns.size,
      waiting: this.waiters.length,
      waits: this.waitsTotal,
      created: this.createdTotal,
      destroyed: this.destroyedTotal,
    };
  }

  /**
   * Destroys the pool: waiting `acquire()` calls reject with `SandboxAbortedError`, idle sandboxes
   * and those being started are destroyed, and so are the busy ones (programs still running in
   * them are killed). Resolves when every sandbox of the pool is gone. Idempotent.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  /** The same as {@link SandboxPool.destroy}. */
  close(): Promise<void> {
    return this.destroy();
  }

  /** `await using` support: {@link SandboxPool.destroy}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  // --- refilling -------------------------------------------------------------------------------

  /** Starts sandboxes until idle + starting covers `size` plus the waiters, `refillConcurrency` at a time. */
  private fill(): void {
    const { refillConcurrency } = this.options;
    while (
      !this.destroying &&
      !this.retryTimer &&
      this.refilling < refillConcurrency &&
      this.idle.length + this.refilling < this.size + this.waiters.length
    )
      this.startOne();
  }

  private startOne(): void {
    const t0 = performance.now();
    let sandbox: Sandbox;
    try {
      sandbox = new Sandbox(this.options.sandbox);
    } catch (err) {
      // The options were valid at construction; the host changed since (the state dir went).
      this.refillFailed(undefined, err);
      return;
    }
    this.createdTotal++;
    this.refilling++;
    sandbox.once('destroyed', () => this.destroyedTotal++);
    const settled = () => {
      this.refills.delete(done);
      this.fill();
    };
    const done: Promise<void> = sandbox
      .start()
      .then(
        () => {
          this.refilling--;
          this.consecutiveFailures = 0;
          this.lastFailure = undefined;
          this.offer(sandbox, performance.now() - t0);
        },
        (err: unknown) => {
          this.refilling--;
          this.refillFailed(sandbox, err);
        }
      )
      .then(settled, settled);
    this.refills.add(done);
  }

  /** A freshly started sandbox goes to the first waiter, else to the idle set (if it has room). */
  private offer(sandbox: Sandbox, setupMs: number): void {
    if (this.destroying || sandbox.state !== 'running') {
      this.discard(sandbox);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      // State first, events last: a listener that throws must not strand a waiter.
      this.handOut(sandbox);
      waiter.give(sandbox);
      this.emit('refill', { id: sandbox.id, pid: sandbox.pid!, setupMs, idle: this.idle.length });
      return;
    }
    if (this.idle.length >= this.size) {
      this.discard(sandbox); // its waiter gave up meanwhile
      return;
    }
    const onFailed = (e: { process?: unknown }) => {
      if (e.process !== undefined) return; // one spawn failed; idle sandboxes run none
      this.dropIdle(sandbox);
    };
    sandbox.on('failed', onFailed);
    this.idleWatch.set(sandbox, onFailed);
    this.idle.push(sandbox);
    const full = this.idle.length === this.size;
    if (full) for (const w of this.fullWaiters.splice(0)) w.give(sandbox);
    this.emit('refill', { id: sandbox.id, pid: sandbox.pid!, setupMs, idle: this.idle.length });
    if (full) this.emit('ready', { idle: this.idle.length });
  }

  private refillFailed(sandbox: Sandbox | undefined, err: unknown): void {
    if (sandbox) this.discard(sandbox);
    if (this.destroying) return;
    const error = err instanceof SandboxError ? err : new SandboxHelperError(`pool refill: ${String(err)}`);
    this.consecutiveFailures++;
    this.lastFailure = error;
    const retryInMs = Math.min(RETRY_BASE_MS * 2 ** (this.consecutiveFailures - 1), RETRY_CAP_MS);
    if (this.failing()) {
      for (const w of this.waiters.splice(0)) w.fail(error);
      for (const w of this.fullWaiters.splice(0)) w.fail(error);
    }
    if (!this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.fill();
      }, retryInMs);
      // An idle pool retrying in the background must not keep Node alive; a waiting caller does.
      if (this.waiters.length === 0) this.retryTimer.unref();
    }
    this.emit('failed', { phase: 'refill', error, consecutive: this.consecutiveFailures, retryInMs });
  }

  private failing(): boolean {
    return this.lastFailure !== undefined && this.consecutiveFailures >= this.options.maxRefillFailures;
  }

  // --- handing out and taking back ------------------------------------------------------------

  /** The oldest idle sandbox still alive, handed out; with `refillNow`, a replacement starts at once. */
  private takeIdle(refillNow: boolean): Sandbox | undefined {
    for (let sandbox = this.idle.shift(); sandbox; sandbox = this.idle.shift()) {
      this.unwatchIdle(sandbox);
      if (sandbox.state !== 'running') {
        this.discard(sandbox);
        continue;
      }
      this.handOut(sandbox);
      if (refillNow) this.fill();
      return sandbox;
    }
    this.fill();
    return undefined;
  }

  private handOut(sandbox: Sandbox): void {
    this.busy.add(sandbox);
    // The owner's own destroy() counts as a release; track its teardown so destroy() waits for it.
    // (Its promise is only set once teardown has begun, hence the microtask.)
    sandbox.once('destroying', () => queueMicrotask(() => this.discard(sandbox)));
  }

  private dropIdle(sandbox: Sandbox): void {
    const at = this.idle.indexOf(sandbox);
    if (at < 0) return;
    this.idle.splice(at, 1);
    this.unwatchIdle(sandbox);
    this.discard(sandbox);
    this.fill();
  }

  private unwatchIdle(sandbox: Sandbox): void {
    const onFailed = this.idleWatch.get(sandbox);
    if (onFailed) sandbox.off('failed', onFailed);
    this.idleWatch.delete(sandbox);
  }

  /** Destroys a sandbox of the pool, tracking the teardown; a failure is reported, not thrown. */
  private discard(sandbox: Sandbox): void {
    this.busy.delete(sandbox);
    const teardown = sandbox.destroy();
    if (this.teardowns.has(teardown)) return;
    this.teardowns.add(teardown);
    teardown.then(
      () => this.teardowns.delete(teardown),
      (err: unknown) => {
        this.teardowns.delete(teardown);
        const error = err instanceof SandboxError ? err : new SandboxHelperError(`pool destroy: ${String(err)}`);
        this.emit('failed', { phase: 'destroy', error, consecutive: 0, retryInMs: 0 });
      }
    );
  }

  private async teardown(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const closed = new SandboxAbortedError('pool.acquire: the pool was destroyed');
    for (const w of this.waiters.splice(0)) w.fail(closed);
    for (const w of this.fullWaiters.splice(0)) w.fail(new SandboxDestroyedError('pool.ready', 'the pool'));
    for (const sandbox of this.idle.splice(0)) {
      this.unwatchIdle(sandbox);
      this.discard(sandbox);
    }
    for (const sandbox of [...this.busy]) this.discard(sandbox);
    // Sandboxes still starting are discarded by offer()/refillFailed() once their start settles.
    while (this.refills.size > 0 || this.teardowns.size > 0)
      await Promise.allSettled([...this.refills, ...this.teardowns]);
    this.emit('destroyed', { destroyed: this.destroyedTotal });
  }
}

function aborted(signal: AbortSignal): SandboxAbortedError {
  return new SandboxAbortedError('pool.acquire: aborted', { cause: signal.reason });
}

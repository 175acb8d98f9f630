import { randomBytes } from 'node:crypto';
import { connection } from '../platform/sessions.js';

/**
 * A kernel pipe between two spawns, in the same sandbox or in two: give `writeEnd` as one
 * spawn's `stdout` (or `stderr`) and `readEnd` as another's `stdin`. The helper creates the
 * pipe and hands each end straight to the program that gets it, so the data never passes
 * through Node. Each end goes to exactly one spawn; once both have been given the helper
 * holds neither, so the reader sees EOF when the writer exits and the writer gets EPIPE when
 * the reader is gone. Close a pipe whose ends were not both given (`close()` or `using`).
 *
 * @example
 * const toSolution = new SandboxPipe(), toInteractor = new SandboxPipe();
 * const solution = a.spawn(['./sol'], { stdin: toSolution.readEnd, stdout: toInteractor.writeEnd });
 * const interactor = b.spawn(['./int'], { stdin: toInteractor.readEnd, stdout: toSolution.writeEnd });
 * const [s, i] = await Promise.all([solution, interactor]);
 */
export class SandboxPipe implements Disposable {
  /** The helper's name of the pipe. */
  readonly id = `pp-${randomBytes(8).toString('hex')}`;
  /** The end to read from: a spawn's `stdin`. */
  readonly readEnd: SandboxPipeEnd = new SandboxPipeEnd(this, 'read');
  /** The end to write to: a spawn's `stdout` or `stderr`. */
  readonly writeEnd: SandboxPipeEnd = new SandboxPipeEnd(this, 'write');
  /** True once closed: its ends can no longer be given. */
  closed = false;

  /**
   * Closes the ends not given to a spawn yet (the ones given are the programs' now). Idempotent.
   * It takes effect once every spawn that took an end has been answered, so it never races one.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void Promise.all([this.readEnd.handedOver, this.writeEnd.handedOver])
      .then(() => connection().request('pipe-close', { pipe: this.id }))
      .catch(() => {});
  }

  /** `using` support: {@link SandboxPipe.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** One end of a {@link SandboxPipe}, to pass as a spawn's `stdin`, `stdout` or `stderr`. */
export class SandboxPipeEnd {
  /** True once a spawn took this end. */
  given = false;
  /** @internal Settles once the spawn that took this end was answered (or failed before asking). */
  handedOver: Promise<void> = Promise.resolve();
  private settle: (() => void) | undefined;
  /** @internal */
  constructor(
    /** The pipe this end belongs to. */
    readonly pipe: SandboxPipe,
    /** Which end it is. */
    readonly end: 'read' | 'write'
  ) {}

  /** @internal A spawn takes this end. */
  take(): void {
    if (this.given) return; // stdout and stderr of one spawn
    this.given = true;
    this.handedOver = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** @internal The spawn that took it is answered: the helper has (or never will have) it. */
  handed(): void {
    this.settle?.();
  }
}

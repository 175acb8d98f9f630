import type { SandboxError } from '../errors/sandbox-error.js';

/**
 * Events of a {@link SandboxPool}. There is deliberately no `'error'` event: failures reject the
 * call that failed (`acquire`, `run`); `failed` is for observers.
 */
export interface SandboxPoolEvents {
  /** A new sandbox is started and ready: handed to a waiting `acquire()` or put in the idle set. */
  refill: [
    {
      /** The sandbox's id. */
      id: string;
      /** Its init's pid on the host. */
      pid: number;
      /** How long its create and start took, in milliseconds. */
      setupMs: number;
      /** Idle sandboxes now. */
      idle: number;
    },
  ];
  /** The idle set reached `size` (emitted each time it fills up again). */
  ready: [
    {
      /** Idle sandboxes now (= `size`). */
      idle: number;
    },
  ];
  /** An `acquire()` found no idle sandbox and has to wait. */
  exhausted: [
    {
      /** Callers waiting now, this one included. */
      waiting: number;
    },
  ];
  /**
   * Starting a replacement failed (`phase: 'refill'`; the next try waits `retryInMs`), or
   * destroying a released sandbox did (`phase: 'destroy'`).
   */
  failed: [
    {
      /** What failed. */
      phase: 'refill' | 'destroy';
      /** Why. */
      error: SandboxError;
      /** Refill failures in a row, this one included (0 for `destroy`). */
      consecutive: number;
      /** When the next refill is tried, in milliseconds (0 for `destroy`). */
      retryInMs: number;
    },
  ];
  /** `destroy()` finished: every sandbox of the pool is gone. */
  destroyed: [
    {
      /** Sandboxes the pool destroyed in its life. */
      destroyed: number;
    },
  ];
}

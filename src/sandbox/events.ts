import type { LimitName, SpawnResult } from '../process/spawn-result.js';
import type { SandboxError } from '../errors/sandbox-error.js';
import type { Snapshot } from '../snapshots/snapshot.js';

/** Identifies a spawned process in events. */
export interface ProcessRef {
  /** sandkit's id for the spawn, unique within the sandbox. */
  id: string;
  /** The command as given. */
  command: readonly string[];
}

/**
 * Events of a {@link Sandbox}, in lifecycle order. There is deliberately no `'error'` event:
 * failures reject the promise of the call that failed; `failed` is for observers.
 */
export interface SandboxEvents {
  /** The Sandbox object exists; nothing has been started yet. */
  created: [{ id: string }];
  /** Building the sandbox began. */
  starting: [{ id: string }];
  /** The sandbox is ready; `pid` is its init on the host. `setupMs` is the time the start took. */
  started: [{ id: string; pid: number; setupMs: number }];
  /** A setup step began (`rootfs.overlay`, ...). */
  step: [{ id: string; step: string }];
  /** A program started inside. */
  spawn: [{ process: ProcessRef; pid: number }];
  /** A chunk of a program's standard output (emitted only while someone listens). */
  stdout: [{ process: ProcessRef; data: Buffer }];
  /** A chunk of a program's standard error (emitted only while someone listens). */
  stderr: [{ process: ProcessRef; data: Buffer }];
  /** A limit fired for a program (sandkit is killing its tree). */
  limit: [{ process: ProcessRef; limit: LimitName }];
  /** The kernel's OOM killer killed a process of a program. */
  oom: [{ process: ProcessRef }];
  /** Every process of the sandbox is frozen. */
  paused: [{ id: string }];
  /** The sandbox runs again. */
  resumed: [{ id: string }];
  /** `sandbox.snapshot()` froze the writable layer into `snapshot`, taking `durationMs`. */
  snapshot: [{ id: string; snapshot: Snapshot; durationMs: number }];
  /** A program ended; the result holds how and why. */
  exit: [{ process: ProcessRef; result: SpawnResult<string | Buffer> }];
  /** Tearing down began. */
  destroying: [{ id: string }];
  /** Every process is dead and every directory of the sandbox removed. */
  destroyed: [{ id: string }];
  /**
   * Something failed; the failing call also rejects. With `process`: that one spawn failed
   * (it could not start, or was aborted) and the sandbox is unharmed. Without: the sandbox
   * itself failed (its start, its init died, the helper died) — emitted once, and the spawns
   * it takes down reject without an event of their own.
   */
  failed: [{ id: string; error: SandboxError; process?: ProcessRef }];
}

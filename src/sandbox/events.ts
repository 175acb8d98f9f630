import type { LimitName, SpawnResult } from '../process/spawn-result.js';
import type { SandboxError } from '../errors/sandbox-error.js';
import type { Snapshot } from '../snapshots/snapshot.js';
import type { ResourceStats } from '../cgroup/stats.js';

/** Where a sandbox is in its life. */
export type SandboxState = 'created' | 'starting' | 'running' | 'paused' | 'destroying' | 'destroyed' | 'failed';

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
  created: [
    {
      /** The sandbox's id. */
      id: string;
    },
  ];
  /** Building the sandbox began. */
  starting: [
    {
      /** The sandbox's id. */
      id: string;
    },
  ];
  /** The sandbox is ready; `pid` is its init on the host. `setupMs` is the time the start took. */
  started: [
    {
      /** The sandbox's id. */
      id: string;
      /** The init's pid on the host. */
      pid: number;
      /** How long the start took, in milliseconds. */
      setupMs: number;
    },
  ];
  /** A setup step began (`rootfs.overlay`, ...). */
  step: [
    {
      /** The sandbox's id. */
      id: string;
      /** The step, as in `SETUP_STEPS`. */
      step: string;
    },
  ];
  /** A program started inside. */
  spawn: [
    {
      /** The program. */
      process: ProcessRef;
      /** Its pid on the host. */
      pid: number;
    },
  ];
  /** A chunk of a program's standard output (emitted only while someone listens). */
  stdout: [
    {
      /** The program. */
      process: ProcessRef;
      /** The bytes, as they came. */
      data: Buffer;
    },
  ];
  /** A chunk of a program's standard error (emitted only while someone listens). */
  stderr: [
    {
      /** The program. */
      process: ProcessRef;
      /** The bytes, as they came. */
      data: Buffer;
    },
  ];
  /** A limit fired for a program (sandkit is killing its tree). */
  limit: [
    {
      /** The program. */
      process: ProcessRef;
      /** The limit that fired. */
      limit: LimitName;
    },
  ];
  /** The kernel's OOM killer killed a process of a program. */
  oom: [
    {
      /** The program. */
      process: ProcessRef;
    },
  ];
  /** Every process of the sandbox is frozen. */
  paused: [
    {
      /** The sandbox's id. */
      id: string;
    },
  ];
  /** The sandbox runs again. */
  resumed: [
    {
      /** The sandbox's id. */
      id: string;
    },
  ];
  /** `sandbox.snapshot()` froze the writable layer into `snapshot`, taking `durationMs`. */
  snapshot: [
    {
      /** The sandbox's id. */
      id: string;
      /** The new snapshot. */
      snapshot: Snapshot;
      /** How long the sandbox was frozen for it, in milliseconds. */
      durationMs: number;
    },
  ];
  /** A program ended; the result holds how and why. */
  exit: [
    {
      /** The program. */
      process: ProcessRef;
      /** How it ended, as its `await` gives it. */
      result: SpawnResult<string | Buffer>;
    },
  ];
  /** The sandbox's resource use, every `statsInterval` while it runs (opt-in). */
  stats: [
    {
      /** The sandbox's id. */
      id: string;
      /** What `sandbox.stats()` would return now. */
      stats: ResourceStats;
    },
  ];
  /** The sandbox's `timeout` is due: it is destroyed right after (`destroying`, `destroyed` follow). */
  timeout: [
    {
      /** The sandbox's id. */
      id: string;
      /** The timeout that ran out, in milliseconds (from creation or from the last `setTimeout`). */
      timeoutMs: number;
    },
  ];
  /** Tearing down began. */
  destroying: [
    {
      /** The sandbox's id. */
      id: string;
    },
  ];
  /** Every process is dead and every directory of the sandbox removed. */
  destroyed: [
    {
      /** The sandbox's id. */
      id: string;
    },
  ];
  /**
   * Something failed; the failing call also rejects. With `process`: that one spawn failed
   * (it could not start, or was aborted) and the sandbox is unharmed. Without: the sandbox
   * itself failed (its start, its init died, the helper died) — emitted once, and the spawns
   * it takes down reject without an event of their own.
   */
  failed: [
    {
      /** The sandbox's id. */
      id: string;
      /** What failed; the failing call rejects with it too. */
      error: SandboxError;
      /** The spawn that failed, when it was one spawn. */
      process?: ProcessRef;
    },
  ];
}

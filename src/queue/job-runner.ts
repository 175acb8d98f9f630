import { Image } from '../images/image.js';
import { SandboxPool } from '../pool/sandbox-pool.js';
import type { SandboxLimits } from '../limits/limits.js';
import type { SpawnResult } from '../process/spawn-result.js';
import type { SandboxOptions } from '../sandbox/options.js';
import { Sandbox } from '../sandbox/sandbox.js';
import type { Snapshot } from '../snapshots/snapshot.js';
import type { RunJob, RunJobResult, RunVerdict, TestResult } from './job.js';

/** One finished step or test, as the worker reports it on the job's progress. */
export interface RunProgress {
  /** What finished: a step, or a test. */
  phase: 'step' | 'test';
  /** Its index in `steps` or `tests`. */
  index: number;
  /** How many there are of its kind. */
  total: number;
  /** The step's status, or the test's verdict. */
  outcome: string;
  /** The worker running the job. */
  worker: string;
}

/** What the runner needs from the worker. */
export interface JobRunContext {
  /** Aborting kills the running program and rejects with `SandboxAbortedError`. */
  signal: AbortSignal;
  /** The image a job names (undefined: the host image). */
  image: (ref: string | undefined) => Promise<Image>;
  /** Where the sandboxes' writable layers go; undefined: the default state directory. */
  stateDir: string | undefined;
  /** What happens to a limit the host has no cgroup for. */
  limitFallback: 'error' | 'rlimit';
  /** Bytes kept of each stdout and stderr, and of all of a job's output together. */
  outputCap: { perSpawnBytes: number; totalBytes: number };
  /** Called after each step and test. */
  progress: (p: Omit<RunProgress, 'worker'>) => void;
  /** Started sandboxes of the host image, for the steps of jobs that name no image and no limits. */
  hostPool?: SandboxPool | undefined;
}

/** The part of a result the runner decides; the worker adds who ran it and when. */
export type RunOutcome = Pick<RunJobResult, 'steps' | 'tests' | 'verdict' | 'outputCap'>;

/**
 * Runs a validated job: its files and steps in one sandbox, a snapshot after the steps marked
 * `snapshotAfter` (the last one counts), then every test in a fresh sandbox from it — or, with no
 * step marked, from the job's image with its files. The snapshot is forgotten afterwards; its
 * layer goes at the store's next gc.
 */
export async function runJob(job: RunJob, ctx: JobRunContext): Promise<RunOutcome> {
  const image = await ctx.image(job.image);
  const budget = new OutputBudget(ctx.outputCap.totalBytes);
  const tests = job.tests ?? [];
  const steps: SpawnResult[] = [];
  let snapshot: Snapshot | undefined;
  const sandbox =
    ctx.hostPool && job.image === undefined && job.limits === undefined
      ? await ctx.hostPool.acquire({ signal: ctx.signal })
      : newSandbox(image, job.limits, ctx);
  try {
    await writeFiles(sandbox, job, ctx.signal);
    for (const [i, step] of job.steps.entries()) {
      const result = budget.cap(
        await sandbox.run(step.cmd, {
          stdin: step.stdin ?? 'ignore',
          limits: step.limits,
          maxBuffer: ctx.outputCap.perSpawnBytes,
          signal: ctx.signal,
        })
      );
      steps.push(result);
      ctx.progress({ phase: 'step', index: i, total: job.steps.length, outcome: result.status });
      if (result.status !== 'ok') {
        if (snapshot) forget(snapshot);
        return { steps, tests: [], verdict: 'compile-error', outputCap: budget.report(ctx.outputCap) };
      }
      if (tests.length > 0 && step.snapshotAfter) {
        const previous = snapshot;
        snapshot = await sandbox.snapshot({ signal: ctx.signal });
        if (previous) forget(previous);
      }
    }
  } finally {
    await sandbox.destroy();
  }
  // Tests run one after another, each in a fresh sandbox from the snapshot; with more than one,
  // a pool starts the next test's sandbox while the current one runs.
  const pool =
    tests.length > 1
      ? new SandboxPool({ size: 1, refillConcurrency: 1, ...sandboxOptions(snapshot ?? image, job.limits, ctx) })
      : undefined;
  try {
    const results: TestResult[] = [];
    for (const [i, test] of tests.entries()) {
      const options = {
        stdin: test.stdin ?? 'ignore',
        limits: test.limits,
        maxBuffer: ctx.outputCap.perSpawnBytes,
        signal: ctx.signal,
      };
      const cmd = test.cmd ?? job.run ?? [];
      const box = pool ? await pool.acquire({ signal: ctx.signal }) : newSandbox(snapshot ?? image, job.limits, ctx);
      let result: SpawnResult;
      try {
        // From the snapshot the files are there; from the image they are written again.
        if (!snapshot) await writeFiles(box, job, ctx.signal);
        result = budget.cap(await box.run(cmd, options));
      } finally {
        if (pool) void pool.release(box).catch(() => {});
        else await box.destroy();
      }
      const verdict = verdictOf(result, test.expect);
      results.push({ ...result, verdict });
      ctx.progress({ phase: 'test', index: i, total: tests.length, outcome: verdict });
    }
    const failed = results.find((t) => t.verdict !== 'accepted');
    return { steps, tests: results, verdict: failed?.verdict ?? 'accepted', outputCap: budget.report(ctx.outputCap) };
  } finally {
    await pool?.destroy();
    if (snapshot) forget(snapshot);
  }
}

async function writeFiles(sandbox: Sandbox, job: RunJob, signal: AbortSignal): Promise<void> {
  for (const [path, content] of Object.entries(job.files ?? {})) await sandbox.files.write(path, content, { signal });
}

function newSandbox(image: Image, limits: SandboxLimits | undefined, ctx: JobRunContext): Sandbox {
  return new Sandbox(sandboxOptions(image, limits, ctx));
}

function sandboxOptions(image: Image, limits: SandboxLimits | undefined, ctx: JobRunContext): SandboxOptions {
  return {
    image,
    limitFallback: ctx.limitFallback,
    ...(ctx.stateDir !== undefined && { stateDir: ctx.stateDir }),
    ...(limits !== undefined && { limits }),
  };
}

/** Drops a job's snapshot record; the layer is left to gc, which the worker runs when idle. */
function forget(snapshot: Snapshot): void {
  try {
    const store = snapshot.layerStore;
    if (snapshot.id) Image.remove(snapshot.id, store ? { store } : {});
  } catch {
    // a record that cannot be removed now goes with the next `sandkit image rm`/gc
  }
}

/**
 * A test's verdict from how its program ended: limits map to theirs, any other failure is a
 * runtime error, and a clean exit is accepted when its stdout matches `expect`.
 */
export function verdictOf(result: SpawnResult, expect: string | undefined): RunVerdict {
  switch (result.status) {
    case 'ok':
      return expect === undefined || sameOutput(result.stdout, expect) ? 'accepted' : 'wrong-answer';
    case 'time-limit':
    case 'wall-time-limit':
      return 'time-limit';
    case 'memory-limit':
      return 'memory-limit';
    case 'output-limit':
      return 'output-limit';
    default:
      return 'runtime-error';
  }
}

/** Judges' usual comparison: trailing whitespace of each line and trailing empty lines do not count. */
function sameOutput(actual: string, expected: string): boolean {
  const norm = (s: string) => s.replace(/[ \t\r]+$/gm, '').replace(/\n+$/, '');
  return norm(actual) === norm(expected);
}

/** Keeps a job's output under its total cap: each result is cut to what the budget has left. */
class OutputBudget {
  private left: number;
  private cut = false;
  constructor(total: number) {
    this.left = total;
  }

  cap<T extends SpawnResult>(result: T): T {
    const out = { ...result };
    for (const [key, flag] of [
      ['stdout', 'stdoutTruncated'],
      ['stderr', 'stderrTruncated'],
    ] as const) {
      const bytes = Buffer.from(out[key]);
      if (out[flag]) this.cut = true;
      if (bytes.length > this.left) {
        out[key] = bytes.subarray(0, this.left).toString();
        out[flag] = true;
        this.cut = true;
      }
      this.left -= Math.min(bytes.length, this.left);
    }
    return out;
  }

  report(cap: { perSpawnBytes: number; totalBytes: number }): RunOutcome['outputCap'] {
    return { ...cap, truncated: this.cut };
  }
}

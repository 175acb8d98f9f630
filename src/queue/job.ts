import { SandboxJobError } from '../errors/sandbox-error.js';
import { SandboxError } from '../errors/sandbox-error.js';
import { resolveSandboxLimits, resolveSpawnLimits, type SandboxLimits, type SpawnLimits } from '../limits/limits.js';
import type { SpawnResult } from '../process/spawn-result.js';

/** One command of a job, run in the job's sandbox after the ones before it. */
export interface RunStep {
  /** The command and its arguments. */
  cmd: string[];
  /** Standard input, as text. @defaultValue none (/dev/null) */
  stdin?: string;
  /** Limits of this command; see {@link SpawnLimits}. */
  limits?: SpawnLimits;
  /** Snapshot the sandbox's files after this step: every test starts from that snapshot. */
  snapshotAfter?: boolean;
}

/** One test case: a fresh sandbox from the snapshot, the test's command, its stdin. */
export interface RunTest {
  /** The command; @defaultValue the job's `run` */
  cmd?: string[];
  /** Standard input, as text. @defaultValue none (/dev/null) */
  stdin?: string;
  /** Limits of this run (`cpuTime`, `memory`, ...). */
  limits?: SpawnLimits;
  /** Expected standard output: the verdict is `'wrong-answer'` when it differs (trailing whitespace of lines ignored). */
  expect?: string;
}

/**
 * A job: declarative and serializable (it travels through Redis as JSON). Only `steps` is
 * required. A judge's shape: files with the source, a compile step with `snapshotAfter`, then
 * each test in a fresh sandbox from the snapshot.
 * @example { files: { '/src/a.c': code }, steps: [{ cmd: ['gcc', '-o', '/src/a', '/src/a.c'], snapshotAfter: true }], run: ['/src/a'], tests: [{ stdin: '1 2', expect: '3' }] }
 */
export interface RunJob {
  /** An image in the worker's store (name or id), or a registry reference (pulled into the store if missing). @defaultValue the host image */
  image?: string;
  /** Files written before the first step: absolute path → text content. */
  files?: Record<string, string>;
  /** Commands run one after another in one sandbox; a step that does not end `'ok'` stops the job (compile error). */
  steps: RunStep[];
  /** The command each test runs unless the test names its own. */
  run?: string[];
  /** Test cases, each in a fresh sandbox from the snapshot after the last `snapshotAfter` step; with none marked, from the image and `files` (without the steps' changes). */
  tests?: RunTest[];
  /** Limits of each of the job's sandboxes (all its processes together). @defaultValue the worker's */
  limits?: SandboxLimits;
}

/** A judge's verdict of one test, or of the whole job. */
export type RunVerdict =
  'accepted' | 'wrong-answer' | 'time-limit' | 'memory-limit' | 'output-limit' | 'runtime-error' | 'compile-error';

/** A test's result: the program's SpawnResult and the verdict decided from it. */
export interface TestResult extends SpawnResult {
  /** `'accepted'` when it ended `'ok'` with the expected output (or no `expect`). */
  verdict: RunVerdict;
}

/** Who ran a job. */
export interface WorkerInfo {
  /** The worker's id: `hostname:pid` unless named. */
  id: string;
  /** Host name of its machine. */
  hostname: string;
  /** Its process id. */
  pid: number;
}

/** What a job produced; the BullMQ return value of the attempt that completed it. */
export interface RunJobResult {
  /** The SpawnResult of every step that ran, in order (a failed step is the last). */
  steps: SpawnResult[];
  /** One result per test, in order; empty when a step failed. */
  tests: TestResult[];
  /** `'compile-error'` when a step failed, else the first test's verdict that is not `'accepted'`, else `'accepted'`. */
  verdict: RunVerdict;
  /** The worker that ran it. */
  worker: WorkerInfo;
  /**
   * Output is capped before it reaches Redis: at most `perSpawnBytes` of each stdout and stderr,
   * at most `totalBytes` over the job; a cut output has `stdoutTruncated`/`stderrTruncated` set.
   */
  outputCap: { perSpawnBytes: number; totalBytes: number; truncated: boolean };
  /** Which attempt completed (1 unless an earlier worker was lost mid-job). */
  attempt: number;
  /** Wall time the worker spent on the job, in milliseconds. */
  durationMs: number;
}

/** Bounds of a job's payload, checked on submit and again by the worker. */
export const JOB_BOUNDS = {
  /** Bytes of the job as JSON. */
  payloadBytes: 32 * 2 ** 20,
  steps: 64,
  tests: 1000,
  files: 1000,
  args: 1024,
};

const JOB_KEYS = new Set(['image', 'files', 'steps', 'run', 'tests', 'limits']);
const STEP_KEYS = new Set(['cmd', 'stdin', 'limits', 'snapshotAfter']);
const TEST_KEYS = new Set(['cmd', 'stdin', 'limits', 'expect']);

function fail(field: string, problem: string): never {
  const name = field ? `job.${field}` : 'job';
  throw new SandboxJobError('invalid', `${name}: ${problem}`, { field: name });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, known: Set<string>, field: string): void {
  for (const key of Object.keys(value)) if (!known.has(key)) fail(`${field}${field ? '.' : ''}${key}`, 'unknown field');
}

function checkCommand(value: unknown, field: string): void {
  if (!Array.isArray(value) || value.length === 0)
    fail(field, `expected a non-empty array of strings, got ${describe(value)}`);
  if (value.length > JOB_BOUNDS.args) fail(field, `at most ${JOB_BOUNDS.args} arguments`);
  value.forEach((arg, i) => {
    if (typeof arg !== 'string' || arg.includes('\0'))
      fail(`${field}[${i}]`, `expected a string without NUL, got ${describe(arg)}`);
  });
  if (value[0] === '') fail(`${field}[0]`, 'the program name is empty');
}

function checkText(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'string') fail(field, `expected a string, got ${describe(value)}`);
}

/** Limits checked by sandkit's own rules; their error becomes the job's, naming the field. */
function checkLimits(check: () => unknown, field: string): void {
  try {
    check();
  } catch (err) {
    if (err instanceof SandboxError) fail(field, err.message);
    throw err;
  }
}

/**
 * Checks a job's payload and returns it typed. Throws `SandboxJobError` (reason `'invalid'`,
 * `field` naming what was wrong) for anything a worker could not run: the producer calls it on
 * submit, and the worker again on what it took from Redis.
 */
export function validateJob(payload: unknown): RunJob {
  if (!isPlainObject(payload)) fail('', `expected an object, got ${describe(payload)}`);
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(payload));
  } catch {
    fail('', 'is not serializable as JSON');
  }
  if (size > JOB_BOUNDS.payloadBytes) fail('', `is ${size} bytes as JSON, at most ${JOB_BOUNDS.payloadBytes}`);
  checkKeys(payload, JOB_KEYS, '');
  const job = payload as unknown as RunJob;
  if (
    job.image !== undefined &&
    (typeof job.image !== 'string' || job.image === '' || job.image.length > 1024 || job.image.includes('\0'))
  )
    fail('image', `expected an image name, id or registry reference, got ${describe(job.image)}`);
  if (job.files !== undefined) {
    if (!isPlainObject(job.files)) fail('files', `expected an object of path → content, got ${describe(job.files)}`);
    const paths = Object.keys(job.files);
    if (paths.length > JOB_BOUNDS.files) fail('files', `at most ${JOB_BOUNDS.files} files`);
    for (const path of paths) {
      if (!path.startsWith('/') || path.includes('\0') || path.split('/').includes('..') || path.length > 4096)
        fail(`files[${JSON.stringify(path)}]`, 'expected an absolute path inside the sandbox, without ..');
      checkText(job.files[path], `files[${JSON.stringify(path)}]`);
    }
  }
  if (!Array.isArray(job.steps) || job.steps.length === 0)
    fail('steps', `expected a non-empty array, got ${describe(job.steps)}`);
  if (job.steps.length > JOB_BOUNDS.steps) fail('steps', `at most ${JOB_BOUNDS.steps} steps`);
  job.steps.forEach((step, i) => {
    const f = `steps[${i}]`;
    if (!isPlainObject(step)) fail(f, `expected an object, got ${describe(step)}`);
    checkKeys(step, STEP_KEYS, f);
    checkCommand(step.cmd, `${f}.cmd`);
    checkText(step.stdin, `${f}.stdin`);
    checkLimits(() => resolveSpawnLimits(step.limits, 'limits'), `${f}.limits`);
    if (step.snapshotAfter !== undefined && typeof step.snapshotAfter !== 'boolean')
      fail(`${f}.snapshotAfter`, `expected a boolean, got ${describe(step.snapshotAfter)}`);
  });
  if (job.run !== undefined) checkCommand(job.run, 'run');
  if (job.tests !== undefined) {
    if (!Array.isArray(job.tests)) fail('tests', `expected an array, got ${describe(job.tests)}`);
    if (job.tests.length > JOB_BOUNDS.tests) fail('tests', `at most ${JOB_BOUNDS.tests} tests`);
    job.tests.forEach((test, i) => {
      const f = `tests[${i}]`;
      if (!isPlainObject(test)) fail(f, `expected an object, got ${describe(test)}`);
      checkKeys(test, TEST_KEYS, f);
      if (test.cmd !== undefined) checkCommand(test.cmd, `${f}.cmd`);
      else if (job.run === undefined) fail(`${f}.cmd`, "a test needs a command: its own cmd or the job's run");
      checkText(test.stdin, `${f}.stdin`);
      checkText(test.expect, `${f}.expect`);
      checkLimits(() => resolveSpawnLimits(test.limits, 'limits'), `${f}.limits`);
    });
  }
  checkLimits(() => resolveSandboxLimits(job.limits, 'limits'), 'limits');
  return job;
}

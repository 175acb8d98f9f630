import type { SetupStep } from './steps.js';

const brand = Symbol.for('sandkit.SandboxError');

/** Stable machine-readable error codes. */
export type SandboxErrorCode =
  | 'ERR_SANDBOX_OPTIONS'
  | 'ERR_SANDBOX_SETUP'
  | 'ERR_SANDBOX_UNSUPPORTED'
  | 'ERR_SANDBOX_HELPER'
  | 'ERR_SANDBOX_ABORTED'
  | 'ERR_SANDBOX_DESTROYED'
  | 'ERR_SANDBOX_LIMIT'
  | 'ERR_SANDBOX_IMAGE'
  | 'ERR_SANDBOX_FILES'
  | 'ERR_SANDBOX_DIED'
  | 'ERR_SANDBOX_NOT_READY'
  | 'ERR_SANDBOX_REGISTRY'
  | 'ERR_SANDBOX_NAME_IN_USE'
  | 'ERR_SANDBOX_NOT_FOUND'
  | 'ERR_SANDBOX_JOB'
  | 'ERR_SANDBOX_JOB_CANCELLED';

/**
 * Base class of every error sandkit throws. `instanceof` works across duplicate installs
 * of the package because it checks a global brand, not the prototype chain.
 *
 * @example
 * try { await sandbox.start(); } catch (e) { if (e instanceof SandboxError) console.log(e.code); }
 */
export class SandboxError extends Error {
  /** Stable code such as `ERR_SANDBOX_SETUP`; switch on this, not on the message. */
  readonly code: SandboxErrorCode;

  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, brand, { value: true });
  }

  /** True for any sandkit error of this class, from this copy of the package or another. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // Subclasses keep their own identity: a SandboxSetupError is not a SandboxOptionsError.
    return this === SandboxError || Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** An option passed to sandkit is invalid; nothing was created. `field` names it (`limits.memory`). */
export class SandboxOptionsError extends SandboxError {
  /** The option that was wrong, as a path such as `limits.memory` or `mounts[0].target`. */
  readonly field: string;
  constructor(field: string, problem: string) {
    super('ERR_SANDBOX_OPTIONS', `invalid option ${field}: ${problem}`);
    this.field = field;
  }
}

/** Details the helper reports for a failed setup step. */
export interface SetupFailure {
  /** The step that failed, e.g. `rootfs.overlay`. */
  step: SetupStep | string;
  /** The failing system call, e.g. `mount`, or null. */
  syscall: string | null;
  /** errno number, or null. */
  errno: number | null;
  /** errno name such as `EPERM`, or null. */
  errnoCode: string | null;
  /** The path the call was about, or null. */
  path: string | null;
  /** The helper's own description. */
  detail: string;
}

/**
 * Building the sandbox or starting a process in it failed at a named step
 * (the sandbox failed, not the program).
 */
export class SandboxSetupError extends SandboxError implements SetupFailure {
  readonly step: string;
  readonly syscall: string | null;
  readonly errno: number | null;
  readonly errnoCode: string | null;
  readonly path: string | null;
  readonly detail: string;

  constructor(operation: string, failure: SetupFailure) {
    super('ERR_SANDBOX_SETUP', formatSetupMessage(operation, failure));
    this.step = failure.step;
    this.syscall = failure.syscall;
    this.errno = failure.errno;
    this.errnoCode = failure.errnoCode;
    this.path = failure.path;
    this.detail = failure.detail;
  }
}

function formatSetupMessage(operation: string, f: SetupFailure): string {
  const call = f.syscall ? `${f.syscall}(${f.path ? JSON.stringify(f.path) : ''})` : '';
  const errno = f.errnoCode ? `${f.errnoCode}${f.detail ? ` (${f.detail})` : ''}` : f.detail;
  return [operation, f.step, call, errno].filter(Boolean).join(': ');
}

/** The host lacks a kernel feature sandkit needs; `missing` lists them. */
export class SandboxUnsupportedError extends SandboxError {
  /** The host features that are missing, e.g. `user namespaces`. */
  readonly missing: string[];
  /** `cause`: the failure that showed the feature is missing (a SandboxSetupError naming the step), if any. */
  constructor(missing: string[], hint: string, options?: { cause?: unknown }) {
    super('ERR_SANDBOX_UNSUPPORTED', `unsupported on this host: ${missing.join(', ')}: ${hint}`, options);
    this.missing = missing;
  }
}

/** The native helper died or broke the protocol; `stderr` holds the end of what it printed. */
export class SandboxHelperError extends SandboxError {
  /** The tail of the helper's stderr: what it said before it died. */
  readonly stderr: string;
  constructor(message: string, stderr = '') {
    super('ERR_SANDBOX_HELPER', stderr ? `${message}: ${stderr.trim()}` : message);
    this.stderr = stderr;
  }
}

/** The operation was aborted by an AbortSignal or by destroying the sandbox. */
export class SandboxAbortedError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SANDBOX_ABORTED', message, options);
  }
}

/** The sandbox (or the pool) was already destroyed. */
export class SandboxDestroyedError extends SandboxError {
  constructor(operation: string, subject = 'the sandbox') {
    super('ERR_SANDBOX_DESTROYED', `${operation}: ${subject} is destroyed`);
  }
}

/** Why an image could not be used: `reason` is stable, switch on it. */
export type ImageErrorReason =
  'not-found' | 'format' | 'digest-mismatch' | 'unsafe-entry' | 'in-use' | 'unsupported' | 'too-large' | 'io';

/**
 * An image, layer or snapshot could not be imported, found or exported: an unreadable or
 * malformed archive, a blob whose content does not match its digest (`digest-mismatch`), a
 * layer entry that would escape its root (`unsafe-entry`), an import or export past its
 * `maxBytes` or `maxEntries` (`too-large`).
 */
export class SandboxImageError extends SandboxError {
  /** What kind of failure it was; switch on this, not on the message. */
  readonly reason: ImageErrorReason;
  /** The digest, file or entry concerned, when there is one. */
  readonly subject: string | null;
  constructor(reason: ImageErrorReason, message: string, subject: string | null = null, options?: { cause?: unknown }) {
    super('ERR_SANDBOX_IMAGE', `image: ${message}`, options);
    this.reason = reason;
    this.subject = subject;
  }
}

/** Why a registry refused or failed: `reason` is stable, switch on it. */
export type RegistryErrorReason =
  'auth' | 'denied' | 'not-found' | 'platform' | 'unavailable' | 'protocol' | 'insecure' | 'too-large';

/**
 * A pull from or push to an image registry failed: wrong or missing credentials (`auth`), a
 * refusal of the registry (`denied`), no such repository, tag or blob (`not-found`), no entry
 * of a multi-platform image for the platform asked (`platform`, with `available` listing what
 * there is), the registry unreachable or failing after retries (`unavailable`), an answer that
 * breaks the distribution API (`protocol`), plain HTTP to a host that is not loopback without
 * `insecure` (`insecure`), a manifest or blob past its cap (`too-large`). Messages name the
 * registry and never hold a credential. Content that does not match its digest is a
 * {@link SandboxImageError} `digest-mismatch`.
 */
export class SandboxRegistryError extends SandboxError {
  /** What kind of failure it was. */
  readonly reason: RegistryErrorReason;
  /** The registry host (`registry-1.docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** The HTTP status of the last answer, when there was one. */
  readonly status: number | null;
  /** For `platform`: the platforms the image offers (`linux/amd64`, `linux/arm/v7`...). */
  readonly available: string[];
  constructor(
    reason: RegistryErrorReason,
    registry: string,
    message: string,
    options?: { cause?: unknown; status?: number | null; available?: string[] }
  ) {
    super('ERR_SANDBOX_REGISTRY', `registry ${registry}: ${message}`, options);
    this.reason = reason;
    this.registry = registry;
    this.status = options?.status ?? null;
    this.available = options?.available ?? [];
  }
}

/**
 * A `sandbox.files` operation failed: the path does not exist or is not what the call needs
 * (`errnoCode` `ENOENT`, `EISDIR`, ...), a tar entry was refused (`errnoCode` null, `reason`
 * says why), or a cap was reached. The sandbox itself is unharmed.
 */
export class SandboxFilesError extends SandboxError {
  /** The path inside the sandbox. */
  readonly path: string;
  /** errno name such as `ENOENT`, or null for refusals made by sandkit itself. */
  readonly errnoCode: string | null;
  constructor(operation: string, path: string, errnoCode: string | null, detail: string) {
    super('ERR_SANDBOX_FILES', `files.${operation}: ${path}: ${detail}`);
    this.path = path;
    this.errnoCode = errnoCode;
  }
}

/**
 * Iterating a program's stdout lines met a line longer than the iterator's `maxLength`
 * (`proc.lines({ maxLength })`, 1 MiB by default): the iteration ends with this error rather
 * than buffer without bound. The lines before it were all yielded; the program keeps running.
 */
export class SandboxLineTooLongError extends SandboxError {
  /** The longest line `lines()` accepts, in bytes. */
  readonly maxLength: number;
  constructor(maxLength: number) {
    super('ERR_SANDBOX_LIMIT', `lines: a line of output is longer than ${maxLength} bytes`);
    this.maxLength = maxLength;
  }
}

/**
 * The sandbox died under the operation: its init was killed from outside (an OOM killer, an
 * operator's kill -9). Every program in it is gone; the sandbox is `failed` and only
 * `destroy()` is left. `signal` is what ended the init, when a signal did.
 */
export class SandboxDiedError extends SandboxError {
  /** The signal that killed the sandbox's init, or `null` when it exited. */
  readonly signal: string | null;
  constructor(message: string, signal: string | null, options?: { cause?: unknown }) {
    super('ERR_SANDBOX_DIED', message, options);
    this.signal = signal;
  }
}

/**
 * `waitForPort` or `waitForLog` gave up: the time ran out (`reason: 'timeout'`) or the
 * program watched ended first (`'exited'`). `lastOutput` is the tail of what the sandbox's
 * programs wrote meanwhile (at most 4 KiB), usually why it never became ready.
 */
export class SandboxNotReadyError extends SandboxError {
  /** Whether the time ran out, or the awaited program ended first. */
  readonly reason: 'timeout' | 'exited';
  /** The programs' last output before giving up, for the error report. */
  readonly lastOutput: string;
  constructor(operation: string, reason: 'timeout' | 'exited', detail: string, lastOutput: string) {
    const tail = lastOutput ? `; last output:\n${lastOutput}` : '; the programs wrote nothing meanwhile';
    super('ERR_SANDBOX_NOT_READY', `${operation}: ${detail}${tail}`);
    this.reason = reason;
    this.lastOutput = lastOutput;
  }
}

/**
 * `new Sandbox({ name })` with a name that a live sandbox of the same state directory has
 * (in this process or another). `owner` is the pid of the process that holds it.
 */
export class SandboxNameInUseError extends SandboxError {
  /** The name asked for. */
  readonly sandboxName: string;
  /** Pid of the process whose sandbox holds the name. */
  readonly owner: number;
  constructor(name: string, owner: number, sandboxId: string) {
    super(
      'ERR_SANDBOX_NAME_IN_USE',
      `invalid option name: ${JSON.stringify(name)} is in use by sandbox ${sandboxId} (pid ${owner})`
    );
    this.sandboxName = name;
    this.owner = owner;
  }
}

/**
 * `Sandbox.connect(idOrName)` (or a call on its handle) found no live sandbox of that id or
 * name among this user's, in the state directory searched; or it ended meanwhile.
 */
export class SandboxNotFoundError extends SandboxError {
  /** The id or name looked for. */
  readonly target: string;
  constructor(target: string, detail = 'no live sandbox of this user has that id or name') {
    super('ERR_SANDBOX_NOT_FOUND', `${target}: ${detail}`);
    this.target = target;
  }
}

/** Why a queued job failed: its payload was `'invalid'`, or running it `'failed'` (the worker's error). */
export type JobErrorReason = 'invalid' | 'failed';

/**
 * A job of `sandkit/queue` failed: rejected on submit or by the worker (`'invalid'`, never
 * retried), or the worker could not run it (`'failed'`). A program's own failure is no error:
 * it is a verdict on the result.
 */
export class SandboxJobError extends SandboxError {
  /** What kind of failure it was; switch on this, not on the message. */
  readonly reason: JobErrorReason;
  /** The payload field that was wrong (`job.steps[0].cmd`), for `'invalid'`. */
  readonly field: string | undefined;
  /** The queue's job id, once it has one. */
  readonly jobId: string | undefined;
  constructor(
    reason: JobErrorReason,
    message: string,
    options: { field?: string; jobId?: string; cause?: unknown } = {}
  ) {
    super('ERR_SANDBOX_JOB', message, options);
    this.reason = reason;
    this.field = options.field;
    this.jobId = options.jobId;
  }
}

/** A queued job was cancelled: removed while it waited, or its sandbox killed while it ran. */
export class SandboxJobCancelledError extends SandboxError {
  /** The queue's job id. */
  readonly jobId: string;
  /** True when a worker had started it (its sandbox was killed). */
  readonly wasRunning: boolean;
  constructor(jobId: string, wasRunning: boolean) {
    super('ERR_SANDBOX_JOB_CANCELLED', `job ${jobId}: cancelled${wasRunning ? ' while running' : ' before it ran'}`);
    this.jobId = jobId;
    this.wasRunning = wasRunning;
  }
}

import type { EventEmitter } from 'eventemitter3';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SandboxAbortedError,
  SandboxNotReadyError,
  SandboxOptionsError,
  type SandboxError,
} from '../errors/sandbox-error.js';
import { isListening } from '../network/listening.js';
import type { SandboxProcess } from '../process/sandbox-process.js';
import type { SandboxEvents } from './events.js';

/** Options shared by `waitForPort` and `waitForLog`. */
export interface WaitOptions {
  /** Milliseconds to wait before rejecting with `SandboxNotReadyError` (`reason: 'timeout'`). @defaultValue 30000 */
  timeout?: number;
  /** Aborting rejects with `SandboxAbortedError` (the sandbox keeps running). */
  signal?: AbortSignal;
}

/** Options of `sandbox.waitForPort()`. */
export interface WaitForPortOptions extends WaitOptions {
  /** @defaultValue 'tcp' (a socket in LISTEN); `'udp'`: a bound socket */
  protocol?: 'tcp' | 'udp';
  /** Milliseconds between checks. @defaultValue 25 */
  interval?: number;
}

/** Options of `sandbox.waitForLog()`. */
export interface WaitForLogOptions extends WaitOptions {
  /** Which output to watch. @defaultValue 'both' */
  stream?: 'stdout' | 'stderr' | 'both';
  /** Watch only this program (and reject with `reason: 'exited'` when it ends first). @defaultValue every program of the sandbox */
  process?: SandboxProcess<string | Buffer>;
}

/** What the waits need of their sandbox. */
export interface Waitable extends Pick<EventEmitter<SandboxEvents>, 'on' | 'off'> {
  readonly pid: number | undefined;
  /** Resolves once started; rejects when the sandbox cannot be. */
  start(): Promise<void>;
  /** The sandbox's failure or destruction, as the error a wait rejects with; undefined while it lives. */
  ended(): SandboxError | undefined;
}

const OUTPUT_TAIL = 4096;
const LINE_MAX = 64 * 1024;

/** Polls the kernel's socket tables of the sandbox's network namespace until `port` listens. */
export async function waitForPort(sandbox: Waitable, port: number, options: WaitForPortOptions = {}): Promise<void> {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new SandboxOptionsError('port', `expected a port number (1-65535), got ${String(port)}`);
  const protocol = options.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') throw new SandboxOptionsError('protocol', "expected 'tcp' or 'udp'");
  const interval = checkMs(options.interval ?? 25, 'interval');
  await waiting(sandbox, `waitForPort(${port}/${protocol})`, options, undefined, async (stop) => {
    await sandbox.start();
    while (!stop.aborted) {
      if (sandbox.pid !== undefined && (await isListening(sandbox.pid, port, protocol))) return;
      await sleep(interval, undefined, { signal: stop }).catch(() => {});
    }
  });
}

/** Resolves with the first line of output (from now on) that `pattern` matches. */
export async function waitForLog(
  sandbox: Waitable,
  pattern: RegExp | string,
  options: WaitForLogOptions = {}
): Promise<string> {
  if (!(pattern instanceof RegExp) && typeof pattern !== 'string')
    throw new SandboxOptionsError('pattern', 'expected a RegExp or a string');
  const stream = options.stream ?? 'both';
  if (!['stdout', 'stderr', 'both'].includes(stream))
    throw new SandboxOptionsError('stream', "expected 'stdout', 'stderr' or 'both'");
  // Without g and y, test() keeps no state between lines; compiled once, not per line.
  const regex =
    typeof pattern === 'string' ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  const matches = (line: string) => (regex ? regex.test(line) : line.includes(pattern as string));
  let found: string | undefined;
  await waiting(
    sandbox,
    `waitForLog(${String(pattern)})`,
    options,
    options.process,
    (stop) =>
      new Promise<void>((resolve) => {
        const partial = new Map<string, string>();
        const onData =
          (fd: 'stdout' | 'stderr') =>
          ({ process, data }: SandboxEvents['stdout'][0]) => {
            if (options.process && process.id !== options.process.id) return;
            if (stream !== 'both' && stream !== fd) return;
            const key = `${process.id}:${fd}`;
            const lines = ((partial.get(key) ?? '') + data.toString('utf8')).split('\n');
            const rest = lines.pop()!;
            for (const line of [...lines, rest]) {
              if (matches(line)) {
                found = line;
                finish();
                return;
              }
            }
            partial.set(key, rest.slice(-LINE_MAX)); // a line without end is matched on its last 64 KiB
          };
        const onStdout = onData('stdout'),
          onStderr = onData('stderr');
        const finish = () => {
          sandbox.off('stdout', onStdout);
          sandbox.off('stderr', onStderr);
          resolve();
        };
        sandbox.on('stdout', onStdout);
        sandbox.on('stderr', onStderr);
        stop.addEventListener('abort', finish, { once: true });
      })
  );
  return found!;
}

function checkMs(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1)
    throw new SandboxOptionsError(field, 'expected milliseconds (a number from 0)');
  return value;
}

/**
 * Runs `until` (which returns once ready, or when `stop` aborts) against the timeout, the
 * caller's signal, the watched program's end and the sandbox's end, keeping the tail of the
 * sandbox's output for the error.
 */
async function waiting(
  sandbox: Waitable,
  operation: string,
  options: WaitOptions,
  watched: SandboxProcess<string | Buffer> | undefined,
  until: (stop: AbortSignal) => Promise<void>
): Promise<void> {
  if (typeof options !== 'object' || options === null) throw new SandboxOptionsError('options', 'expected an object');
  const timeout = checkMs(options.timeout ?? 30_000, 'timeout');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new SandboxOptionsError('signal', 'expected an AbortSignal');
  if (options.signal?.aborted) throw new SandboxAbortedError(`${operation}: aborted`, { cause: options.signal.reason });
  const ended = sandbox.ended();
  if (ended) throw ended;
  let tail = '';
  const keep = ({ data }: { data: Buffer }) => {
    tail = (tail + data.toString('utf8')).slice(-OUTPUT_TAIL);
  };
  const stop = new AbortController();
  let settle!: (err?: Error) => void;
  const verdict = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  const timer = setTimeout(
    () => settle(new SandboxNotReadyError(operation, 'timeout', `not ready after ${timeout} ms`, tail)),
    timeout
  );
  const onAbort = () => settle(new SandboxAbortedError(`${operation}: aborted`, { cause: options.signal?.reason }));
  const onExit = ({ process }: SandboxEvents['exit'][0]) => {
    if (watched && process.id === watched.id)
      settle(
        new SandboxNotReadyError(operation, 'exited', `${watched.command.join(' ')} ended before it was ready`, tail)
      );
  };
  const onGone = () => {
    const error = sandbox.ended(); // a `failed` of one spawn leaves the sandbox up
    if (error) settle(error);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  sandbox.on('stdout', keep);
  sandbox.on('stderr', keep);
  sandbox.on('exit', onExit);
  sandbox.on('failed', onGone);
  sandbox.on('destroying', onGone);
  until(stop.signal).then(
    () => settle(),
    (err: Error) => settle(err)
  );
  try {
    await verdict;
  } finally {
    stop.abort();
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    sandbox.off('stdout', keep);
    sandbox.off('stderr', keep);
    sandbox.off('exit', onExit);
    sandbox.off('failed', onGone);
    sandbox.off('destroying', onGone);
  }
}

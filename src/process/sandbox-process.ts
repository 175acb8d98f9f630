import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { unlink } from 'node:fs';
import { SandboxAbortedError, SandboxError, SandboxHelperError, SandboxSetupError } from '../errors/sandbox-error.js';
import type { HelperConnection, Hold } from '../helper/helper-connection.js';
import type { ExitEvent, SpawnedReply, SpawnRequest } from '../helper/protocol.js';
import { OutputCollector, type SharedRoom } from './output-collector.js';
import { readLines } from './line-reader.js';
import { SandboxPipeEnd } from './sandbox-pipe.js';
import { streamLimit, stdinFileOf } from './spawn-request.js';
import type { ResolvedSpawnOptions } from './spawn-options.js';
import { statusOf, type SpawnResult } from './spawn-result.js';
import { isErrorReply, setupFailureOf } from '../helper/setup-failure.js';
import type { Cgroup } from '../cgroup/cgroup.js';
import { SpawnMonitor, violationOf } from './spawn-monitor.js';
import type { LimitName } from './spawn-result.js';
import { traceNow, traceSince } from '../platform/step-trace.js';
import { readResourceStats, type ResourceStats } from '../cgroup/stats.js';

const DEFAULT_MAX_LINE = 1 << 20;

/** A spawn request ready for the helper, with the cgroup made for it. */
export interface PreparedSpawn {
  request: SpawnRequest;
  cgroup: Cgroup | undefined;
  /** The reply of a spawn already sent (a cold sandbox's first, with its create). */
  sent?: Promise<SpawnedReply>;
}

/** What a process needs from its sandbox. */
/** A process whatever its output encoding. */
export type AnySandboxProcess = SandboxProcess<string | Buffer>;

export interface SpawnContext {
  connection: HelperConnection;
  /** Starts the sandbox if needed, makes the spawn's cgroup and builds the helper request. */
  prepare(id: string, options: ResolvedSpawnOptions): Promise<PreparedSpawn>;
  /** The spawn is over (ended or failed): release its cgroup. */
  release(proc: AnySandboxProcess, cgroup: Cgroup | undefined): void;
  onLimit(proc: AnySandboxProcess, limit: LimitName): void;
  onOom(proc: AnySandboxProcess): void;
  onSpawned(proc: AnySandboxProcess, pid: number): void;
  onOutput(proc: AnySandboxProcess, fd: 1 | 2, data: Buffer): void;
  onExit(proc: AnySandboxProcess, result: SpawnResult<string | Buffer>): void;
  onFailed(proc: AnySandboxProcess, error: SandboxError): void;
  /** The sandbox died under a running spawn: the error the sandbox failed with (made once). */
  sandboxDied(signal: string | null): SandboxError;
  wantsOutputEvents(fd: 1 | 2): boolean;
  /** True once the sandbox is being destroyed. */
  closing(): boolean;
}

/**
 * A program running in a sandbox. Returned at once by `sandbox.spawn()`; await it for the
 * {@link SpawnResult} (a non-zero exit resolves, it does not throw); iterate it for stdout lines.
 *
 * @example
 * const proc = sandbox.spawn(['sh', '-c', 'echo hi; exit 3']);
 * proc.stdout.pipe(process.stdout);
 * const { exitCode } = await proc; // 3
 */
export class SandboxProcess<Output extends string | Buffer = string>
  implements PromiseLike<SpawnResult<Output>>, AsyncIterable<string>
{
  /** Standard input; end it to send EOF. A no-op sink unless `stdin` is `'pipe'`. */
  readonly stdin: Writable;
  /** Standard output as it arrives (also collected into `result.stdout`). */
  readonly stdout: Readable;
  /** Standard error as it arrives (also collected into `result.stderr`). */
  readonly stderr: Readable;

  private readonly stdinPipe = new PassThrough();
  private readonly stdoutPipe = new PassThrough();
  private readonly stderrPipe = new PassThrough();
  /** Host pid of the program once it started, else undefined. */
  pid: number | undefined;
  /** True once the program has ended (or could not be started). */
  exited = false;

  private readonly result: Promise<SpawnResult<Output>>;
  private readonly collectors: [OutputCollector, OutputCollector];
  /** Set once an output limit fired: later output is neither kept nor counted. */
  private outputCut = false;
  /** The host file holding `stdin: { data, asFile: true }` until the helper has copied it. */
  private stdinFile: string | undefined;
  private readonly openStreams = new Set<Socket>();
  private exitEvent: ExitEvent | undefined;
  // Typed for any encoding, so every SandboxProcess<Output> is an AnySandboxProcess.
  private settle!: { resolve: (r: SpawnResult<string | Buffer>) => void; reject: (e: Error) => void };
  private abortError: SandboxAbortedError | undefined;
  private readonly callSite: Error;
  private started = false;
  private finished = false;
  // Output sockets arrive before the `spawned` reply; they stay paused (the kernel buffers)
  // until then, so nobody sees output before `spawn` and `pid`.
  private heldOutput: Array<[1 | 2, Socket]> = [];
  private readonly gates = new Set<Transform>();
  /** What may still reach the readers of stdout and stderr together (`limits.output`). */
  private readonly visibleRoom: SharedRoom;
  private monitor: SpawnMonitor | undefined;
  private cgroup: Cgroup | undefined;
  /** Keeps Node alive from launch until the spawn settles; released exactly once. */
  private hold: Hold | undefined;
  /** With a terminal: the stderr socket, which carries window sizes to the helper. */
  private ttyControl: Socket | undefined;
  /** A size given before that socket arrived. */
  private pendingSize: Buffer | undefined;

  /** @internal */
  constructor(
    /** sandkit's id of this spawn. */
    readonly id: string,
    /** The command as given. */
    readonly command: readonly string[],
    private readonly options: ResolvedSpawnOptions,
    private readonly ctx: SpawnContext
  ) {
    this.callSite = new Error('spawn() called here');
    this.stdin = this.stdinPipe;
    this.stdout = this.stdoutPipe;
    this.stderr = this.stderrPipe;
    // Kept exactly: each stream up to maxBuffer and its own limit, both together up to limits.output.
    const shared = { bytes: options.limits.output ?? Infinity };
    this.visibleRoom = { bytes: options.limits.output ?? Infinity };
    this.collectors = [
      new OutputCollector(Math.min(options.maxBuffer, streamLimit(options, 'stdout') ?? Infinity), shared),
      new OutputCollector(Math.min(options.maxBuffer, streamLimit(options, 'stderr') ?? Infinity), shared),
    ];
    this.collect(this.stdout, 1);
    this.collect(this.stderr, 2);
    this.result = new Promise<SpawnResult<Output>>((resolve, reject) => {
      this.settle = { resolve: resolve as (r: SpawnResult<string | Buffer>) => void, reject };
    });
    this.result.catch(() => {}); // the caller may never await; failures are also emitted
    if (options.stdout !== 'pipe') this.stdoutPipe.end(); // ignored, a file or a pipe to another spawn
    if (options.stderr !== 'pipe') this.stderrPipe.end();
    // Taken here, not when the options were checked: a spawn refused before this never holds one.
    for (const end of [options.stdin, options.stdout, options.stderr]) if (end instanceof SandboxPipeEnd) end.take();
    this.feedStdin();
    this.watchAbort();
    this.launch().catch(() => {}); // launch() settles this process itself, failures included
  }

  then<A = SpawnResult<Output>, B = never>(
    onfulfilled?: ((value: SpawnResult<Output>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null
  ): Promise<A | B> {
    return this.result.then(onfulfilled, onrejected);
  }

  /** As a Promise's: `proc.catch(...)` handles a spawn that failed (not a nonzero exit). */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<SpawnResult<Output> | B> {
    return this.result.catch(onrejected);
  }

  /** As a Promise's: runs `onfinally` once the process settled, either way. */
  finally(onfinally?: (() => void) | null): Promise<SpawnResult<Output>> {
    return this.result.finally(onfinally);
  }

  /**
   * Lines of standard output as they arrive (decoded as UTF-8, without `\n` or `\r\n`). A
   * line longer than 1 MiB ends the iteration with {@link SandboxLineTooLongError}; see
   * {@link lines} to choose the length.
   */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.lines();
  }

  /**
   * Lines of standard output, at most `maxLength` bytes each (default 1 MiB): a longer line
   * ends the iteration with {@link SandboxLineTooLongError} (the program keeps running; its
   * output is still collected for the result). Unread lines pause the output past 1 MiB.
   */
  lines(options: { maxLength?: number } = {}): AsyncGenerator<string, void, undefined> {
    const maxLength = options.maxLength ?? DEFAULT_MAX_LINE;
    if (!Number.isInteger(maxLength) || maxLength < 1)
      throw new SandboxError(
        'ERR_SANDBOX_OPTIONS',
        `invalid option maxLength: expected a positive whole number of bytes, got ${String(maxLength)}`
      );
    return readLines(this.stdout, maxLength);
  }

  /**
   * Sends a signal to the program (and, for SIGKILL, ends its whole process tree at once).
   * Returns false if the program has already ended.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exited) return false;
    const signo = typeof signal === 'number' ? signal : constants.signals[signal];
    if (signo === undefined || !Number.isInteger(signo) || signo < 1 || signo > 64) {
      throw new SandboxError('ERR_SANDBOX_OPTIONS', `kill: unknown signal ${String(signal)}`);
    }
    void this.whenStarted()
      .then(() => {
        if (!this.exited) return this.ctx.connection.request('kill', { process: this.id, signal: signo });
      })
      .catch(() => {}); // an exit racing the kill is fine
    return true;
  }

  /**
   * Changes the size of the program's terminal (`tty` option): the kernel sends it SIGWINCH.
   * Returns false without a terminal or once the program has ended.
   */
  resize(cols: number, rows: number): boolean {
    for (const [n, name] of [
      [cols, 'cols'],
      [rows, 'rows'],
    ] as const)
      if (!Number.isInteger(n) || n < 1 || n > 65535)
        throw new SandboxError(
          'ERR_SANDBOX_OPTIONS',
          `invalid option ${name}: expected a whole number from 1 to 65535, got ${String(n)}`
        );
    if (!this.options.tty || this.exited) return false;
    const record = Buffer.alloc(4);
    record.writeUInt16BE(cols, 0);
    record.writeUInt16BE(rows, 2);
    if (this.ttyControl) this.ttyControl.write(record);
    else this.pendingSize = record;
    return true;
  }

  /**
   * What the program's process tree uses now, from its own cgroup: memory, CPU time, tasks and
   * block I/O. Every figure is null before it starts, once it has ended (its `SpawnResult` holds
   * the final figures) and where the host has no such controller; see {@link ResourceStats}.
   */
  stats(): Promise<ResourceStats> {
    return Promise.resolve(readResourceStats(this.started && !this.exited ? this.cgroup : undefined));
  }

  private async launch(): Promise<void> {
    const conn = this.ctx.connection;
    conn.watchProcess(this.id, this);
    this.hold = conn.hold();
    try {
      const { request, cgroup, sent } = await this.ctx.prepare(this.id, this.options);
      this.stdinFile = stdinFileOf(request);
      if (this.finished) {
        // failed meanwhile (the helper died): nothing may go out any more
        this.stdioHandedOver();
        this.ctx.release(this, cgroup);
        return;
      }
      this.cgroup = cgroup;
      this.monitor = new SpawnMonitor(this.options.limits, cgroup, (limit) => {
        this.ctx.onLimit(this, limit);
        this.kill('SIGKILL');
      });
      // A spawn already sent runs, aborted or not: it is killed once it has started (below).
      if (this.abortError && !sent) throw this.abortError;
      const t = traceNow();
      const reply = await (sent ?? conn.request('spawn', request)).finally(() => this.stdioHandedOver());
      traceSince('spawn.request-to-spawned', t);
      if (this.finished) return;
      // pid null: the spawn ended before its command started (a kill right after spawn).
      this.pid = reply.pid ?? undefined;
      this.started = true;
      this.monitor.started(reply.preExecCpuUs ?? 0); // older helpers did not send it
      this.startedWaiters.forEach((w) => w());
      this.ctx.onSpawned(this, reply.pid ?? 0);
      for (const [fd, socket] of this.heldOutput.splice(0)) this.pipeOutput(socket, fd);
      if (this.abortError) this.kill('SIGKILL');
      this.maybeFinish(); // the exit line may have come in the same chunk as the reply
    } catch (err) {
      this.fail(this.toSandboxError(err));
    }
  }

  private startedWaiters: Array<() => void> = [];
  private whenStarted(): Promise<void> {
    if (this.started) return Promise.resolve();
    return new Promise((resolve) => this.startedWaiters.push(resolve));
  }

  /** @internal Called by the helper connection with the other end of a stdio socket. */
  onStdio(fd: number, socket: Socket): void {
    socket.on('error', () => {}); // EPIPE/ECONNRESET after the program exits are expected
    if (fd === 0) {
      this.stdinPipe.pipe(socket);
      return;
    }
    if (fd === 2 && this.options.tty) {
      this.ttyControl = socket;
      if (this.pendingSize) socket.write(this.pendingSize);
      this.pendingSize = undefined;
    }
    this.openStreams.add(socket);
    socket.once('close', () => {
      this.openStreams.delete(socket);
      this.maybeFinish();
    });
    const out = fd === 1 ? 1 : 2;
    if (this.started) this.pipeOutput(socket, out);
    else this.heldOutput.push([out, socket]);
  }

  private pipeOutput(socket: Socket, fd: 1 | 2): void {
    const gate = this.outputGate(fd);
    this.gates.add(gate);
    socket.pipe(gate).pipe(fd === 1 ? this.stdoutPipe : this.stderrPipe);
  }

  /** @internal */
  onExit(event: ExitEvent): void {
    if (event.sandboxDied) {
      // The init was killed under the program: that is the sandbox failing, not the program.
      this.fail(this.ctx.sandboxDied(event.signal));
      return;
    }
    this.exitEvent = event;
    this.exited = true;
    this.stdinPipe.unpipe();
    this.maybeFinish();
  }

  /** @internal */
  onHelperDied(error: SandboxHelperError): void {
    this.fail(error);
  }

  private maybeFinish(): void {
    const ev = this.exitEvent;
    if (!ev || !this.started || this.openStreams.size > 0 || this.finished) return;
    this.finished = true;
    this.ctx.connection.unwatchProcess(this.id);
    this.hold?.release();
    const t = traceNow();
    const result = this.buildResult(ev);
    traceSince('spawn.result', t);
    this.ctx.release(this, this.cgroup);
    if (this.abortError) {
      // Aborted after it started: it ran and was killed; it leaves the running set and says so.
      this.ctx.onFailed(this, this.abortError);
      this.settle.reject(this.abortError);
      return;
    }
    if (result.oomKilled) this.ctx.onOom(this);
    this.ctx.onExit(this, result);
    this.settle.resolve(result);
  }

  private buildResult(ev: ExitEvent): SpawnResult<Output> {
    const [out, err] = this.collectors;
    const asBuffer = this.options.encoding === 'buffer';
    const m = this.monitor!.finish(ev);
    return {
      command: this.command,
      status: statusOf(ev.exitCode, ev.signal, m.limitExceeded, !!ev.violation),
      exitCode: ev.exitCode,
      signal: (ev.signal as NodeJS.Signals | null) ?? null,
      pid: this.pid ?? 0,
      wallTimeMs: ev.wallUs / 1000,
      cpuTimeMs: m.cpuTimeMs,
      memoryPeakBytes: m.memoryPeakBytes,
      memoryUsedBytes: m.memoryUsedBytes,
      maxRssBytes: ev.rusage.maxRssKb * 1024,
      oomKilled: m.oomKilled,
      pidsLimitHit: m.pidsLimitHit,
      limitExceeded: m.limitExceeded,
      stdout: (asBuffer ? out.buffer() : out.text()) as Output,
      stderr: (asBuffer ? err.buffer() : err.text()) as Output,
      stdoutTruncated: out.truncated,
      stderrTruncated: err.truncated,
      execError: ev.execError
        ? {
            errnoCode: ev.execError.errnoName ?? 'UNKNOWN',
            path: ev.execError.path ?? this.command[0]!,
            message: ev.execError.message,
          }
        : null,
      violation: violationOf(ev.violation),
    };
  }

  /**
   * The helper has taken this spawn's stdio, or never will: the host file of `asFile` data
   * goes (the helper has its memfd copy) and the pipes of its ends may be closed.
   */
  private stdioHandedOver(): void {
    if (this.stdinFile) unlink(this.stdinFile, () => {});
    this.stdinFile = undefined;
    for (const end of [this.options.stdin, this.options.stdout, this.options.stderr])
      if (end instanceof SandboxPipeEnd) end.handed();
  }

  /** The one way a spawn ends without a result; a second failure (or an exit after it) is ignored. */
  private fail(error: SandboxError): void {
    this.stdioHandedOver();
    if (this.finished) return;
    this.finished = true;
    this.exited = true;
    this.monitor?.stop();
    this.ctx.connection.unwatchProcess(this.id);
    this.hold?.release();
    this.ctx.release(this, this.cgroup);
    this.startedWaiters.splice(0).forEach((w) => w());
    for (const [, socket] of this.heldOutput.splice(0)) socket.destroy();
    // Output still in flight must not be written into the streams ended below.
    for (const socket of this.openStreams) {
      socket.unpipe();
      socket.destroy();
    }
    for (const gate of this.gates) gate.unpipe();
    error.stack = `${error.name}: ${error.message}\n${this.callSite.stack?.split('\n').slice(1).join('\n') ?? ''}`;
    for (const s of [this.stdoutPipe, this.stderrPipe]) if (!s.writableEnded) s.end();
    this.ctx.onFailed(this, error);
    this.settle.reject(error);
  }

  private toSandboxError(err: unknown): SandboxError {
    if (err instanceof SandboxError) return err;
    // A spawn racing destroy() fails because the sandbox went away, not because setup broke.
    if (this.ctx.closing() || (isErrorReply(err) && err.destroyed))
      return new SandboxAbortedError('spawn: the sandbox was destroyed before the program started', { cause: err });
    if (isErrorReply(err)) return new SandboxSetupError('spawn', setupFailureOf(err));
    return new SandboxHelperError(`spawn: ${(err as Error)?.message ?? String(err)}`);
  }

  /** Keeps `stream` flowing into the sandbox's output events (the reader may never read it). */
  private collect(stream: Readable, fd: 1 | 2): void {
    stream.on('data', (chunk: Buffer) => {
      if (this.ctx.wantsOutputEvents(fd)) this.ctx.onOutput(this, fd, chunk);
    });
  }

  /**
   * Between the helper's socket and proc.stdout/stderr: counts every byte against the limits
   * (the result keeps its exact cut, the monitor kills the tree past a limit) and lets through
   * only what the limits allow, so a reader sees no byte past `limits.output`/`stdout`/`stderr`.
   */
  private outputGate(fd: 1 | 2): Transform {
    const collector = this.collectors[fd - 1]!;
    const own = this.options.limits[fd === 1 ? 'stdout' : 'stderr'];
    let passed = 0;
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        // Past a limit the tree is being killed: what still drains is neither kept nor counted,
        // so the counts stay within one chunk of the limit.
        if (this.outputCut) return done();
        collector.push(chunk);
        const streamOver = own !== undefined && collector.totalBytes > own;
        this.monitor?.output(chunk.length, streamOver); // kills the tree past an output limit
        const [a, b] = this.collectors;
        if (
          streamOver ||
          (this.options.limits.output !== undefined && a.totalBytes + b.totalBytes > this.options.limits.output)
        )
          this.outputCut = true;
        const room = Math.min((own ?? Infinity) - passed, this.visibleRoom.bytes);
        if (room <= 0) return done();
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        passed += part.length;
        this.visibleRoom.bytes -= part.length;
        done(null, part);
      },
    });
  }

  private feedStdin(): void {
    const input = this.options.stdin;
    this.stdinPipe.on('error', () => {});
    if (input === 'pipe') return;
    if (input === 'ignore') return void this.stdinPipe.end(); // a terminal's input: nothing comes
    // Data is written as the program reads it: the socket is non-blocking and pipe() waits
    // for 'drain', so a large stdin never holds Node's event loop.
    if (typeof input === 'string' || input instanceof Uint8Array) this.stdinPipe.end(input);
    else if (typeof (input as Readable).pipe === 'function') (input as Readable).pipe(this.stdinPipe);
    else this.stdinPipe.end(); // /dev/null, a file or a pipe: nothing comes from Node
  }

  private watchAbort(): void {
    const signal = this.options.signal;
    if (!signal) return;
    const onAbort = () => {
      this.abortError = new SandboxAbortedError(`spawn: aborted: ${this.command.join(' ')}`, { cause: signal.reason });
      if (this.started) this.kill('SIGKILL');
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }
}

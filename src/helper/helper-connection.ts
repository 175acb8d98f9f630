import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { debuglog } from 'node:util';
import { SandboxHelperError } from '../errors/sandbox-error.js';
import { helperPath } from './helper-path.js';
import { protocolProblem } from './protocol-check.js';
import type {
  ExitEvent,
  HelperErrorReply,
  HelperHandleMessage,
  HelperMessage,
  HelperReply,
  ReplyMap,
  RequestMap,
  RequestType,
  SandboxExitEvent,
} from './protocol.js';

const debug = debuglog('sandkit');
const STDERR_TAIL_BYTES = 4096;

/** Receives what the helper says about one spawned process. */
export interface ProcessSink {
  onStdio(fd: number, socket: Socket): void;
  onExit(event: ExitEvent): void;
  onHelperDied(error: SandboxHelperError): void;
}

/** Receives what the helper says about one sandbox. */
export interface SandboxSink {
  onStep(step: string): void;
  onSandboxExit(event: SandboxExitEvent): void;
  onHelperDied(error: SandboxHelperError): void;
}

interface Pending {
  resolve: (reply: HelperReply) => void;
  reject: (error: Error | HelperErrorReply) => void;
}

/** The fields of request `T`; optional as a whole when it has none (`features`). */
type RequestBody<T extends RequestType> =
  Record<string, never> extends RequestMap[T] ? [body?: RequestMap[T]] : [body: RequestMap[T]];

// Tests set SANDKIT_CHECK_PROTOCOL=1: every line the helper sends is checked against the spec.
const checkProtocol = process.env.SANDKIT_CHECK_PROTOCOL === '1';

/**
 * One reason to keep Node's event loop alive while the helper works for it. Each hold has
 * one owner, and releasing it twice releases it once: no path can drive the count below
 * what is really pending (which would let Node exit with work still in flight).
 */
export interface Hold {
  release(): void;
  readonly released: boolean;
}

/**
 * The one native supervisor of this Node process: started on first use, restarted after it dies
 * (failing only the calls in flight), and keeping Node's event loop alive only while work is pending.
 */
export class HelperConnection {
  private child: ChildProcess | undefined;
  private starting: Promise<ChildProcess> | undefined;
  private nextReq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly processes = new Map<string, ProcessSink>();
  private readonly sandboxes = new Map<string, SandboxSink>();
  private readonly handleWaiters = new Map<string, (socket: Socket) => void>();
  private stderrTail = '';
  private readonly holds = new Set<Hold>();

  /**
   * Sends request `type` with its fields (spec/protocol.json) and resolves with its success
   * reply, typed by ReplyMap; rejects with the raw `error` reply.
   */
  async request<T extends RequestType>(type: T, ...[body]: RequestBody<T>): Promise<ReplyMap[T]> {
    // With the helper running, the request leaves synchronously, so the caller can overlap
    // its own work with the helper's.
    const child = this.child ?? (await this.start());
    const req = this.nextReq++;
    const hold = this.hold();
    try {
      return (await new Promise<HelperReply>((resolve, reject) => {
        this.pending.set(req, { resolve, reject });
        child.send({ type, ...body, req }, (err) => {
          if (!err) return;
          if (this.pending.delete(req))
            reject(new SandboxHelperError(`the sandkit helper is gone: its channel refused ${type}`));
          // A channel that refused a write (EPIPE) is dead even before its exit event: no new
          // call may be sent to it; the next one starts a new helper.
          this.lost(child, 'is gone: its channel refused a write'); // EPIPE: it died
        });
      })) as ReplyMap[T];
    } finally {
      hold.release();
    }
  }

  /**
   * Sends `create` carrying the sandbox's first `spawn` in the same message (one round trip
   * for a cold sandbox): `created` and `spawned` settle as the two requests' replies would. A
   * create that fails also fails the spawn, with the create's error.
   */
  createAndSpawn(
    body: RequestMap['create'],
    spawn: RequestMap['spawn']
  ): { created: Promise<ReplyMap['create']>; spawned: Promise<ReplyMap['spawn']> } {
    const req = this.nextReq++;
    const hold = this.hold();
    const spawned = new Promise<HelperReply>((resolve, reject) => this.pending.set(req, { resolve, reject })).finally(
      () => hold.release()
    ) as Promise<ReplyMap['spawn']>;
    spawned.catch(() => {}); // a create that fails rejects both; the caller hears it from the create
    const created = this.request('create', { ...body, spawn: { type: 'spawn', req, ...spawn } });
    created.catch((err: unknown) => {
      // The spawn fails with its create, whatever the helper still says about it (it answers a
      // failed create's spawn too, but not one the create never got to: unsent, or refused as
      // malformed): nothing may keep waiting, or holding Node's event loop, for it.
      const pending = this.pending.get(req);
      this.pending.delete(req);
      pending?.reject(err as Error | HelperErrorReply);
    });
    return { created, spawned };
  }

  /**
   * Resolves with the socket the helper sends as handle `kind` named `name`: files channel
   * `name` (the `fs` request) or connection `name` (the `connect` request).
   */
  awaitHandle(name: string, kind: 'fs' | 'connection' = 'fs'): { socket: Promise<Socket>; cancel(): void } {
    const key = `${kind}:${name}`;
    let cancel = () => {};
    const socket = new Promise<Socket>((resolve, reject) => {
      this.handleWaiters.set(key, resolve);
      cancel = () => {
        if (this.handleWaiters.delete(key)) reject(new SandboxHelperError(`no socket for ${name}`));
      };
    });
    socket.catch(() => {});
    return { socket, cancel };
  }

  watchProcess(id: string, sink: ProcessSink): void {
    this.processes.set(id, sink);
  }
  unwatchProcess(id: string): void {
    this.processes.delete(id);
  }
  watchSandbox(id: string, sink: SandboxSink): void {
    this.sandboxes.set(id, sink);
  }
  unwatchSandbox(id: string): void {
    this.sandboxes.delete(id);
  }

  /** Keeps Node's event loop alive until the returned hold is released (idempotent). */
  hold(): Hold {
    const holds = this.holds;
    let released = false;
    const hold: Hold = {
      release: () => {
        if (released) return;
        released = true;
        holds.delete(hold);
        if (holds.size === 0) this.setRef(false);
      },
      get released() {
        return released;
      },
    };
    holds.add(hold);
    if (holds.size === 1) this.setRef(true);
    return hold;
  }

  /** How many holds are pending (for tests and diagnostics). */
  get heldCount(): number {
    return this.holds.size;
  }

  /** Pid of the running helper, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Kills the helper at once (used when the host process exits). Every sandbox dies with it. */
  killNow(): void {
    this.child?.kill('SIGKILL');
  }

  private start(): Promise<ChildProcess> {
    if (this.child) return Promise.resolve(this.child);
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private launch(): Promise<ChildProcess> {
    const child = spawn(helperPath(), [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
      env: helperEnv(),
    });
    this.stderrTail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    return new Promise((resolve, reject) => {
      const onEarlyExit = (code: number | null, signal: string | null) =>
        reject(
          new SandboxHelperError(`the sandkit helper failed to start (${signal ?? `exit ${code}`})`, this.stderrTail)
        );
      child.once('error', (err) => reject(new SandboxHelperError(`cannot start the sandkit helper: ${err.message}`)));
      child.once('exit', onEarlyExit);
      child.on('message', (msg: HelperMessage | HelperHandleMessage, handle?: Socket) => {
        if (checkProtocol) checkLine(msg, handle !== undefined);
        if (msg.type === 'hello') {
          debug('helper %d ready', child.pid);
          child.off('exit', onEarlyExit);
          child.once('exit', (code, sig) => this.onExit(child, code, sig));
          this.child = child;
          this.setRef(this.holds.size > 0);
          resolve(child);
          return;
        }
        this.dispatch(msg, handle);
      });
    });
  }

  private dispatch(msg: HelperMessage | HelperHandleMessage, handle?: Socket): void {
    if (msg.type === 'fs' || msg.type === 'connection') {
      const key = msg.type === 'fs' ? `fs:${msg.channel}` : `connection:${msg.conn}`;
      const waiter = this.handleWaiters.get(key);
      this.handleWaiters.delete(key);
      if (waiter && handle) waiter(handle);
      else handle?.destroy();
      return;
    }
    if (msg.type === 'stdio') {
      const sink = this.processes.get(msg.process);
      if (sink && handle) sink.onStdio(msg.fd, handle);
      else handle?.destroy();
      return;
    }
    if ('req' in msg && typeof msg.req === 'number') {
      const pending = this.pending.get(msg.req);
      if (!pending) return;
      this.pending.delete(msg.req);
      if (msg.type === 'error') pending.reject(msg);
      else pending.resolve(msg);
      return;
    }
    switch (msg.type) {
      case 'exit':
        this.processes.get(msg.process)?.onExit(msg);
        break;
      case 'step':
        this.sandboxes.get(msg.sandbox)?.onStep(msg.step);
        break;
      case 'sandbox-exit':
        this.sandboxes.get(msg.sandbox)?.onSandboxExit(msg);
        break;
      case 'error':
        debug('helper error without request: %o', msg);
        break;
      default:
        break; // unknown types are ignored so the protocol can grow
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: string | null): void {
    this.lost(child, `exited (${signal ?? `exit ${code}`})`);
  }

  /** The helper is gone (or unusable): fail what waits on it, once; the next call starts another. */
  private lost(child: ChildProcess, how: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    child.kill('SIGKILL');
    const error = new SandboxHelperError(`the sandkit helper ${how}`, this.stderrTail);
    debug('%s', error.message);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    // Sandboxes first: their spawns then fail with the very error their sandbox failed with,
    // which the sandbox reports once rather than once per spawn.
    for (const sink of [...this.sandboxes.values()]) sink.onHelperDied(error);
    for (const sink of [...this.processes.values()]) sink.onHelperDied(error);
  }

  private setRef(on: boolean): void {
    const child = this.child;
    if (!child) return;
    const channel = child.channel as unknown as { ref(): void; unref(): void } | undefined;
    const stderr = child.stderr as unknown as { ref?(): void; unref?(): void } | null;
    if (on) {
      child.ref();
      channel?.ref();
      stderr?.ref?.();
    } else {
      child.unref();
      channel?.unref();
      stderr?.unref?.();
    }
  }
}

/** A line that breaks the spec fails the test run (an uncaught error), after it is handled. */
function checkLine(msg: unknown, handle: boolean): void {
  const problem = protocolProblem(msg, handle);
  if (problem) {
    setImmediate(() => {
      throw new Error(`the helper sent a line that breaks spec/protocol.json: ${problem}: ${JSON.stringify(msg)}`);
    });
  }
}

// The helper gets no secrets from the host environment: only a fixed PATH, its parent's pid
// and sandkit's own SANDKIT_* settings.
function helperEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('SANDKIT_')) env[k] = v;
  env.SANDKIT_PARENT_PID = String(process.pid);
  return env;
}

let shared: HelperConnection | undefined;

/** The process-wide helper connection. */
export function helperConnection(): HelperConnection {
  shared ??= new HelperConnection();
  return shared;
}

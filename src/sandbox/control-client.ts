import { Socket, connect } from 'node:net';
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { debuglog } from 'node:util';
import { SandboxError, SandboxNotFoundError, SandboxOptionsError } from '../errors/sandbox-error.js';
import { isSessionAlive } from '../platform/session.js';
import { defaultStateDir } from '../platform/state-dir.js';
import type { ResourceStats } from '../cgroup/stats.js';
import type { FsEntry, FsStat } from '../files/sandbox-files.js';
import type { SpawnResult } from '../process/spawn-result.js';
import type { TtySize } from '../process/spawn-options.js';
import {
  MAX_FILE_BYTES,
  MAX_REPLY_LINE,
  SOCKET_NAME,
  fromWire,
  readJsonLines,
  sendLine,
  socketAddress,
  type LogChunk,
  type SandboxInfo,
  type WireError,
} from './control-protocol.js';
import { resolveLabels } from './control-options.js';

const debug = debuglog('sandkit');

/** How long `list()` waits for one owner before leaving its sandboxes out (a blocked event loop). */
const LIST_TIMEOUT_MS = 3_000;
/** How long a call on a handle waits for its reply (`stop` waits for the teardown: longer). */
const CALL_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 120_000;
/** Output `run()` keeps per stream. */
const RUN_MAX_BUFFER = 16 << 20;

/** Options of {@link Sandbox.list}. */
export interface ListOptions {
  /** Only sandboxes carrying every one of these labels with these values. */
  labels?: Record<string, string>;
  /** The state directory whose sandboxes to list. @defaultValue see `defaultStateDir()` */
  stateDir?: string;
}

/** Options of {@link Sandbox.connect}. */
export interface ConnectOptions {
  /** The state directory to look in. @defaultValue see `defaultStateDir()` */
  stateDir?: string;
}

/** What {@link RemoteSandbox.spawn} accepts: the spawn options that make sense from another process. */
export interface RemoteSpawnOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory inside. */
  cwd?: string;
  /** User inside: a name or a uid. */
  user?: string | number;
  /** Give the program a stdin pipe fed from {@link RemoteProcess.stdin} (else /dev/null). */
  stdin?: boolean;
  /**
   * A pseudo-terminal from the sandbox's devpts as the program's stdio, as `spawn`'s `tty`
   * option: output (stderr merged) arrives on {@link RemoteProcess.stdout}; resize with
   * {@link RemoteProcess.resize}.
   */
  tty?: boolean | TtySize;
}

/** How a program started through a handle ended: a {@link SpawnResult} without the output (it was streamed). */
export type RemoteResult = Omit<SpawnResult, 'stdout' | 'stderr' | 'stdoutTruncated' | 'stderrTruncated'>;

/** What {@link RemoteSandbox.run} gives: the result and the output (each stream kept up to 16 MiB). */
export interface RemoteRunResult extends RemoteResult {
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/** The sandboxes of this user in a state directory, across every process that owns some. */
export async function listSandboxes(options: ListOptions = {}): Promise<SandboxInfo[]> {
  if (typeof options !== 'object' || options === null)
    throw new SandboxOptionsError('options', 'expected { labels?, stateDir? }');
  const labels = resolveLabels(options.labels);
  const found = await Promise.all(liveSockets(options.stateDir ?? defaultStateDir()).map((path) => listOne(path)));
  return found
    .flat()
    .filter((info) => Object.entries(labels).every(([k, v]) => info.labels[k] === v))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** A handle on a live sandbox of this user, found by id or name. @throws {SandboxNotFoundError} */
export async function connectSandbox(idOrName: string, options: ConnectOptions = {}): Promise<RemoteSandbox> {
  if (typeof idOrName !== 'string' || idOrName.length === 0 || idOrName.length > 128)
    throw new SandboxOptionsError('idOrName', 'expected a sandbox id or name');
  const stateDir = options.stateDir ?? defaultStateDir();
  for (const path of liveSockets(stateDir)) {
    const match = (await listOne(path)).find((i) => i.id === idOrName || i.name === idOrName);
    if (match) return new RemoteSandbox(path, match);
  }
  throw new SandboxNotFoundError(idOrName);
}

/**
 * The control sockets of live sessions under `stateDir`; a socket whose owner is gone (kill -9)
 * is removed on the way. A directory this user cannot read (another user's) has none.
 */
function liveSockets(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'sessions'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const path = join(stateDir, 'sessions', name, SOCKET_NAME);
    if (isSessionAlive(name)) {
      out.push(path);
      continue;
    }
    try {
      unlinkSync(path);
      debug('removed the stale control socket %s', path);
    } catch {
      // none there
    }
  }
  return out;
}

async function listOne(path: string): Promise<SandboxInfo[]> {
  const client = new ControlClient(path, 'list');
  try {
    return (await client.call<SandboxInfo[]>({ op: 'list' }, LIST_TIMEOUT_MS)) ?? [];
  } catch (err) {
    debug('control socket %s: %o', path, err);
    return []; // not listening yet, or gone meanwhile
  } finally {
    client.close();
  }
}

/** Connects to the socket at `path`, however deep; a failure to reach it comes as the socket's 'error'. */
function dial(path: string): Socket {
  let address: { address: string; done: () => void };
  try {
    address = socketAddress(path);
  } catch (err) {
    const socket = new Socket();
    queueMicrotask(() => socket.destroy(err as Error));
    return socket;
  }
  const socket = connect(address.address);
  socket.once('connect', address.done);
  socket.once('error', address.done);
  socket.once('close', address.done);
  return socket;
}

/** One connection to an owner's socket, multiplexing calls by id. */
class ControlClient {
  private socket: Socket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    readonly path: string,
    private readonly target: string
  ) {}

  call<T>(request: Record<string, unknown>, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    const socket = this.open();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.refresh();
        reject(
          new SandboxError(
            'ERR_SANDBOX_NOT_READY',
            `${this.target}: its owner did not answer ${String(request.op)} within ${timeoutMs}ms (is its event loop blocked?)`
          )
        );
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.refresh();
      sendLine(socket, { ...request, id });
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Socket {
    if (this.socket) return this.socket;
    const socket = (this.socket = dial(this.path));
    socket.on('error', (err) =>
      this.fail(
        new SandboxNotFoundError(
          this.target,
          `cannot reach its owner (${(err as NodeJS.ErrnoException).code ?? err.message})`
        )
      )
    );
    socket.on('close', () => this.fail(new SandboxNotFoundError(this.target, 'its owner closed the connection')));
    readJsonLines(
      socket,
      MAX_REPLY_LINE,
      (m) => {
        const waiter = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
        if (m.id === null && m.ok === false) return this.fail(fromWire(m.error as WireError, this.target));
        if (!waiter) return;
        this.pending.delete(m.id as number);
        this.refresh();
        if (m.ok === true) waiter.resolve(m.result);
        else waiter.reject(fromWire(m.error as WireError, this.target));
      },
      (why) => this.fail(new SandboxError('ERR_SANDBOX_HELPER', `${this.target}: bad reply from its owner: ${why}`))
    );
    return socket;
  }

  /** Keeps Node alive only while a call waits. */
  private refresh(): void {
    if (this.pending.size > 0) this.socket?.ref();
    else this.socket?.unref();
  }

  private fail(err: Error): void {
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
    this.socket?.destroy();
    this.socket = undefined;
  }
}

/**
 * A sandbox owned by another process (or this one), reached through its owner's control
 * socket: spawn programs, use its files, read stats and kept logs, ask the owner to stop it.
 * The owner keeps the lifetime: when it exits, the sandbox ends and calls fail with
 * {@link SandboxNotFoundError}. Close the handle with {@link close} (or `using`).
 */
export class RemoteSandbox implements Disposable {
  /** The sandbox's id. */
  readonly id: string;
  /** Its name, if it has one. */
  readonly name: string | null;
  private readonly client: ControlClient;

  /** @internal */
  constructor(
    private readonly socketPath: string,
    info: SandboxInfo
  ) {
    this.id = info.id;
    this.name = info.name;
    this.client = new ControlClient(socketPath, info.id);
  }

  /** What the owner says about it now. */
  info(): Promise<SandboxInfo> {
    return this.client.call({ op: 'inspect', target: this.id });
  }

  /** Its resource use now (see {@link ResourceStats}). */
  stats(): Promise<ResourceStats> {
    return this.client.call({ op: 'stats', target: this.id });
  }

  /** What its programs printed, if the owner keeps it (`keepLogs`); empty otherwise. */
  async logs(): Promise<LogChunk[]> {
    const raw = await this.client.call<Array<[1 | 2, string]>>({ op: 'logs', target: this.id });
    return raw.map(([fd, data]) => ({ fd, data: Buffer.from(data, 'base64') }));
  }

  /** Asks the owner to destroy the sandbox; resolves once it is destroyed (or already gone). */
  async stop(): Promise<void> {
    try {
      await this.client.call({ op: 'stop', target: this.id }, STOP_TIMEOUT_MS);
    } catch (err) {
      // An owner that exits once its sandbox is destroyed closes the connection before it replies.
      if (!(err instanceof SandboxNotFoundError)) throw err;
    }
  }

  /** Its files, through the owner's `sandbox.files` (at most 3 MiB a call). */
  readonly files = {
    /** Reads a regular file (at most `maxBytes`, and at most 3 MiB). */
    read: async (path: string, options: { maxBytes?: number } = {}): Promise<Buffer> =>
      Buffer.from(await this.files.call<string>({ call: 'read', path, maxBytes: options.maxBytes }), 'base64'),
    /** Reads a file as UTF-8 text. */
    readText: async (path: string, options: { maxBytes?: number } = {}): Promise<string> =>
      (await this.files.read(path, options)).toString('utf8'),
    /** Writes a file (parents made), at most 3 MiB. */
    write: async (path: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> => {
      const bytes =
        typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (bytes.length > MAX_FILE_BYTES)
        throw new SandboxOptionsError(
          'data',
          `at most ${MAX_FILE_BYTES} bytes go through the control socket in one write`
        );
      await this.files.call({ call: 'write', path, data: bytes.toString('base64'), mode: options.mode });
    },
    /** The entries of a directory (at most 10000). */
    list: (path: string): Promise<FsEntry[]> => this.files.call({ call: 'list', path }),
    /** Metadata of a path. */
    stat: (path: string): Promise<FsStat> => this.files.call({ call: 'stat', path }),
    /** Makes a directory. */
    mkdir: async (path: string, options: { recursive?: boolean } = {}): Promise<void> => {
      await this.files.call({ call: 'mkdir', path, recursive: options.recursive });
    },
    /** Removes a file or (with `recursive`) a tree. */
    remove: async (path: string, options: { recursive?: boolean } = {}): Promise<void> => {
      await this.files.call({ call: 'remove', path, recursive: options.recursive });
    },
    /** @internal One files call through the owner. */
    call: <T>(args: Record<string, unknown>): Promise<T> => this.client.call({ op: 'files', target: this.id, ...args }),
  };

  /** Starts a program in the sandbox; its output streams back as it comes. */
  spawn(command: readonly string[], options: RemoteSpawnOptions = {}): RemoteProcess {
    return new RemoteProcess(this.socketPath, this.id, command, options);
  }

  /** Runs a program to completion: its result with stdout and stderr (each kept up to 16 MiB). */
  async run(
    command: readonly string[],
    options: RemoteSpawnOptions & { input?: string | Uint8Array } = {}
  ): Promise<RemoteRunResult> {
    const { input, ...rest } = options;
    const proc = this.spawn(command, { ...rest, stdin: input !== undefined });
    if (input !== undefined) proc.stdin.end(input);
    const [stdout, stderr, result] = await Promise.all([collect(proc.stdout), collect(proc.stderr), proc]);
    return { ...result, stdout, stderr };
  }

  /** Closes the connection (the sandbox is not touched). */
  close(): void {
    this.client.close();
  }

  /** `using` support: {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

async function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (bytes >= RUN_MAX_BUFFER) continue;
    chunks.push(chunk.subarray(0, RUN_MAX_BUFFER - bytes));
    bytes += chunk.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A program started through a {@link RemoteSandbox}, on a connection of its own so a slow
 * reader holds back only this program's output. Await it for its {@link RemoteResult}.
 */
export class RemoteProcess implements PromiseLike<RemoteResult> {
  /** Its standard input (a pipe with `stdin: true`; else writes are dropped). */
  readonly stdin: Writable;
  /** Its standard output as it arrives. */
  readonly stdout = new PassThrough();
  /** Its standard error as it arrives. */
  readonly stderr = new PassThrough();
  /** Its host pid once started. */
  pid: number | undefined;
  private readonly socket: Socket;
  private readonly result: Promise<RemoteResult>;
  private static readonly SPAWN_ID = 1;

  /** @internal */
  constructor(path: string, target: string, command: readonly string[], options: RemoteSpawnOptions) {
    const socket = (this.socket = dial(path));
    const id = RemoteProcess.SPAWN_ID;
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        if (socket.destroyed) return done();
        socket.write(`${JSON.stringify({ id, op: 'stdin', data: chunk.toString('base64') })}\n`, () => done());
      },
      final: (done) => {
        sendLine(socket, { id, op: 'stdin', end: true });
        done();
      },
    });
    this.stdin.on('error', () => {});
    this.result = new Promise<RemoteResult>((resolve, reject) => {
      const fail = (err: Error) => {
        reject(err);
        this.endStreams();
        socket.destroy();
      };
      socket.on('error', (err) =>
        fail(
          new SandboxNotFoundError(
            target,
            `cannot reach its owner (${(err as NodeJS.ErrnoException).code ?? err.message})`
          )
        )
      );
      socket.on('close', () =>
        fail(new SandboxNotFoundError(target, 'its owner closed the connection before the program ended'))
      );
      readJsonLines(
        socket,
        MAX_REPLY_LINE,
        (m) => {
          if (m.ok === false) return fail(fromWire(m.error as WireError, target));
          if (m.event === 'spawned') this.pid = m.pid as number;
          else if (m.event === 'stdout' || m.event === 'stderr') {
            const out = m.event === 'stdout' ? this.stdout : this.stderr;
            if (!out.write(Buffer.from(m.data as string, 'base64'))) {
              // A slow reader here: stop reading the socket, so the owner pauses the program.
              socket.pause();
              out.once('drain', () => socket.resume());
            }
          } else if (m.event === 'exit') {
            resolve(m.result as RemoteResult);
            this.endStreams();
            socket.end();
          }
        },
        (why) => fail(new SandboxError('ERR_SANDBOX_HELPER', `${target}: bad reply from its owner: ${why}`))
      );
    });
    this.result.catch(() => {});
    sendLine(socket, {
      id,
      op: 'spawn',
      target,
      command,
      options: {
        env: options.env,
        cwd: options.cwd,
        user: options.user,
        stdin: options.stdin === true,
        ...(options.tty !== undefined && options.tty !== false && { tty: options.tty }),
      },
    });
  }

  then<A = RemoteResult, B = never>(
    onfulfilled?: ((value: RemoteResult) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null
  ): Promise<A | B> {
    return this.result.then(onfulfilled, onrejected);
  }

  /** As a Promise's: `proc.catch(...)` handles a spawn that failed (not a nonzero exit). */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<RemoteResult | B> {
    return this.result.catch(onrejected);
  }

  /** As a Promise's: runs `onfinally` once the process settled, either way. */
  finally(onfinally?: (() => void) | null): Promise<RemoteResult> {
    return this.result.finally(onfinally);
  }

  /** Sends a signal to the program. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    sendLine(this.socket, { id: RemoteProcess.SPAWN_ID, op: 'kill', signal });
  }

  /** Changes the size of the program's terminal (`tty`); the owner checks the figures. */
  resize(cols: number, rows: number): void {
    sendLine(this.socket, { id: RemoteProcess.SPAWN_ID, op: 'resize', cols, rows });
  }

  private endStreams(): void {
    for (const s of [this.stdout, this.stderr]) if (!s.writableEnded) s.end();
  }
}

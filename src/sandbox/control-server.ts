import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { debuglog } from 'node:util';
import { SandboxNotFoundError, SandboxOptionsError } from '../errors/sandbox-error.js';
import type { Session } from '../platform/session.js';
import { onProcessExit } from '../platform/sessions.js';
import type { AnySandboxProcess } from '../process/sandbox-process.js';
import type { SpawnOptions } from '../process/spawn-options.js';
import type { SandboxFiles } from '../files/sandbox-files.js';
import type { ResourceStats } from '../cgroup/stats.js';
import type { ProcessRef, SandboxEvents } from './events.js';
import {
  IDLE_TIMEOUT_MS,
  MAX_CLIENTS,
  MAX_FILE_BYTES,
  MAX_REQUEST_LINE,
  SOCKET_NAME,
  readJsonLines,
  sendLine,
  socketAddress,
  toWire,
  type LogChunk,
  type SandboxInfo,
} from './control-protocol.js';

const debug = debuglog('sandkit');

type SpawnListener = (event: SandboxEvents['spawn'][0]) => void;

/** What the control socket may do with a sandbox: a narrow set of its own public calls. */
export interface ControlTarget {
  readonly id: string;
  info(): SandboxInfo;
  spawn(command: readonly string[], options?: SpawnOptions): AnySandboxProcess;
  readonly files: SandboxFiles;
  stats(): Promise<ResourceStats>;
  logs(): LogChunk[];
  destroy(): Promise<void>;
  on(event: 'spawn', listener: SpawnListener): unknown;
  off(event: 'spawn', listener: SpawnListener): unknown;
}

const servers = new Map<string, ControlServer>();

/**
 * The control socket of one session (this Node process and one state directory):
 * `sessions/<session>/control.sock`, mode 0600 in directories of mode 0700 owned by this
 * user, so only this user (and root) can connect. It is served by this process's event loop:
 * the owner keeps the lifetime of its sandboxes, and while its loop is blocked, clients wait.
 */
export class ControlServer {
  private readonly targets = new Map<string, ControlTarget>();
  private server: Server | undefined;
  private clients = 0;

  private constructor(readonly path: string) {}

  /** The server of `session`, listening from the first call on. */
  static for(session: Session): ControlServer {
    let s = servers.get(session.dir);
    if (!s) {
      s = new ControlServer(join(session.dir, SOCKET_NAME));
      servers.set(session.dir, s);
      s.listen();
    }
    return s;
  }

  /** Makes `target` reachable through the socket until {@link remove}. */
  add(target: ControlTarget): void {
    this.targets.set(target.id, target);
  }

  remove(id: string): void {
    this.targets.delete(id);
  }

  private listen(): void {
    if (!isPrivateDir(dirname(this.path)) || !isPrivateDir(dirname(dirname(this.path)))) {
      debug('control socket not served: %s is not in private directories of this user', this.path);
      return;
    }
    const server = createServer({ allowHalfOpen: false }, (socket) => this.accept(socket));
    server.maxConnections = MAX_CLIENTS + 1; // the one past the cap is told why it is refused
    server.on('error', (err) => debug('control socket %s: %o', this.path, err));
    const { address, done } = socketAddress(this.path);
    server.once('listening', done);
    server.once('error', done);
    server.listen(address, () => {
      try {
        chmodSync(this.path, 0o600);
      } catch (err) {
        debug('control socket chmod: %o', err);
      }
    });
    server.unref(); // a socket nobody uses must not keep the owner alive
    this.server = server;
    onProcessExit(() => {
      try {
        unlinkSync(this.path);
      } catch {
        // removed with the session
      }
    });
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    if (this.clients >= MAX_CLIENTS) {
      sendLine(socket, {
        id: null,
        ok: false,
        error: {
          code: 'ERR_SANDBOX_UNSUPPORTED',
          name: 'SandboxError',
          message: `the owner serves at most ${MAX_CLIENTS} clients at once`,
        },
      });
      socket.end();
      return;
    }
    this.clients++;
    socket.once('close', () => this.clients--);
    new ControlConnection(socket, this.targets).serve();
  }

  /** Stops listening (tests; the process's exit removes the socket otherwise). */
  close(): void {
    this.server?.close();
  }
}

function isPrivateDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === process.geteuid?.() && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

type Request = Record<string, unknown> & { id: number };

/** One client: requests in, replies and spawn streams out, with backpressure both ways. */
class ControlConnection {
  private readonly spawns = new Map<number, AnySandboxProcess>();
  private inFlight = 0;

  constructor(
    private readonly socket: Socket,
    private readonly targets: Map<string, ControlTarget>
  ) {}

  serve(): void {
    const socket = this.socket;
    socket.setTimeout(IDLE_TIMEOUT_MS, () => {
      if (this.spawns.size === 0 && this.inFlight === 0) socket.destroy();
    });
    socket.once('close', () => {
      // A client that goes away takes the programs it started with it.
      for (const proc of this.spawns.values()) proc.kill('SIGKILL');
    });
    readJsonLines(
      socket,
      MAX_REQUEST_LINE,
      (m) => this.onMessage(m),
      (why) => {
        sendLine(socket, {
          id: null,
          ok: false,
          error: { code: 'ERR_SANDBOX_OPTIONS', name: 'SandboxOptionsError', message: why },
        });
        socket.end();
      }
    );
  }

  private onMessage(m: Record<string, unknown>): void {
    const id = m.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
      sendLine(this.socket, {
        id: null,
        ok: false,
        error: { code: 'ERR_SANDBOX_OPTIONS', name: 'SandboxOptionsError', message: 'a request needs a numeric id' },
      });
      this.socket.end();
      return;
    }
    const req = m as Request;
    if (req.op === 'stdin' || req.op === 'kill' || req.op === 'resize') return this.toSpawn(req);
    this.inFlight++;
    this.handle(req)
      .then(
        (result) => {
          if (result !== STREAMING) sendLine(this.socket, { id, ok: true, result });
        },
        (err: unknown) => sendLine(this.socket, { id, ok: false, error: toWire(err) })
      )
      .finally(() => this.inFlight--);
  }

  private async handle(req: Request): Promise<unknown> {
    if (req.op === 'list') return [...this.targets.values()].map((t) => t.info());
    if (typeof req.op !== 'string' || !OPS.has(req.op))
      throw new SandboxOptionsError('op', `unknown operation ${JSON.stringify(req.op)?.slice(0, 40)}`);
    const target = this.target(req.target);
    switch (req.op) {
      case 'inspect':
        return target.info();
      case 'stats':
        return target.stats();
      case 'logs':
        return target.logs().map((c) => [c.fd, c.data.toString('base64')]);
      case 'stop':
        await target.destroy();
        return {};
      case 'files':
        return this.files(target, req);
      case 'spawn':
        this.spawn(target, req);
        return STREAMING;
      default:
        throw new SandboxOptionsError('op', `unknown operation ${JSON.stringify(req.op)?.slice(0, 40)}`);
    }
  }

  private target(value: unknown): ControlTarget {
    const key = typeof value === 'string' ? value : '';
    const target = this.targets.get(key) ?? [...this.targets.values()].find((t) => t.info().name === key);
    if (!target) throw new SandboxNotFoundError(key.slice(0, 100) || '(none)');
    return target;
  }

  private async files(target: ControlTarget, req: Request): Promise<unknown> {
    const path = req.path;
    if (typeof path !== 'string') throw new SandboxOptionsError('path', 'expected a string');
    const files = target.files;
    switch (req.call) {
      case 'read': {
        const maxBytes = typeof req.maxBytes === 'number' ? Math.min(req.maxBytes, MAX_FILE_BYTES) : MAX_FILE_BYTES;
        return (await files.read(path, { maxBytes })).toString('base64');
      }
      case 'write': {
        if (typeof req.data !== 'string') throw new SandboxOptionsError('data', 'expected base64 text');
        const mode = req.mode === undefined ? {} : { mode: req.mode as number };
        await files.write(path, Buffer.from(req.data, 'base64'), mode);
        return {};
      }
      case 'list':
        return files.list(path, { maxEntries: 10_000 });
      case 'stat':
        return files.stat(path);
      case 'mkdir':
        await files.mkdir(path, { recursive: req.recursive === true });
        return {};
      case 'remove':
        await files.remove(path, { recursive: req.recursive === true });
        return {};
      default:
        throw new SandboxOptionsError('call', `unknown files call ${JSON.stringify(req.call)?.slice(0, 40)}`);
    }
  }

  /** Starts a program and streams it back: output pauses while the client reads slowly. */
  private spawn(target: ControlTarget, req: Request): void {
    const command = req.command;
    if (
      !Array.isArray(command) ||
      command.length === 0 ||
      command.length > 4096 ||
      !command.every((a) => typeof a === 'string')
    )
      throw new SandboxOptionsError('command', 'expected a non-empty array of strings');
    const o = (typeof req.options === 'object' && req.options !== null ? req.options : {}) as Record<string, unknown>;
    // Only what a client may choose: no host files for stdio, no signal, no encoding.
    const options: SpawnOptions & { encoding: 'buffer' } = {
      encoding: 'buffer',
      maxBuffer: 0,
      // A terminal's input is a pipe even without -i: the client then sends nothing.
      stdin: o.stdin === true || (o.tty !== undefined && o.tty !== false) ? 'pipe' : 'ignore',
      ...(o.tty !== undefined && { tty: o.tty as SpawnOptions['tty'] }),
      ...(o.env !== undefined && { env: o.env as Record<string, string> }),
      ...(o.cwd !== undefined && { cwd: o.cwd as string }),
      ...(o.user !== undefined && { user: o.user as string }),
      ...(o.limits !== undefined && { limits: o.limits as SpawnOptions['limits'] }),
    };
    const id = req.id;
    const proc = target.spawn(command as string[], options);
    this.spawns.set(id, proc);
    const socket = this.socket;
    const forward = (event: 'stdout' | 'stderr') => (data: Buffer) => {
      if (!sendLine(socket, { id, event, data: data.toString('base64') })) {
        proc.stdout.pause();
        proc.stderr.pause();
        socket.once('drain', () => {
          proc.stdout.resume();
          proc.stderr.resume();
        });
      }
    };
    proc.stdout.on('data', forward('stdout'));
    proc.stderr.on('data', forward('stderr'));
    const onSpawn = (e: { process: ProcessRef; pid: number }) => {
      if (e.process.id === proc.id) sendLine(socket, { id, event: 'spawned', pid: e.pid });
    };
    target.on('spawn', onSpawn);
    proc
      .then(
        (result) => {
          const { stdout: _o, stderr: _e, stdoutTruncated: _ot, stderrTruncated: _et, ...rest } = result;
          sendLine(socket, { id, event: 'exit', result: rest });
        },
        (err: unknown) => sendLine(socket, { id, ok: false, error: toWire(err) })
      )
      .finally(() => {
        target.off('spawn', onSpawn);
        this.spawns.delete(id);
      });
  }

  private toSpawn(req: Request): void {
    const proc = this.spawns.get(req.id);
    if (!proc) return; // ended meanwhile
    if (req.op === 'kill') {
      try {
        proc.kill(
          typeof req.signal === 'string' || typeof req.signal === 'number' ? (req.signal as NodeJS.Signals) : 'SIGTERM'
        );
      } catch {
        // an unknown signal from the client: nothing to do
      }
      return;
    }
    if (req.op === 'resize') {
      try {
        proc.resize(Number(req.cols), Number(req.rows));
      } catch {
        // figures out of range from the client: the terminal keeps its size
      }
      return;
    }
    if (typeof req.data === 'string' && !proc.stdin.write(Buffer.from(req.data, 'base64'))) {
      // The program reads slowly: stop reading the client until it catches up.
      this.socket.pause();
      proc.stdin.once('drain', () => this.socket.resume());
    }
    if (req.end === true) proc.stdin.end();
  }
}

const STREAMING = Symbol('streaming');
const OPS = new Set(['inspect', 'stats', 'logs', 'stop', 'files', 'spawn']);

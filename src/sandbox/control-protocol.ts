import { closeSync, openSync, constants as fsConstants } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Socket } from 'node:net';
import {
  SandboxError,
  SandboxNotFoundError,
  SandboxOptionsError,
  type SandboxErrorCode,
} from '../errors/sandbox-error.js';
import type { SandboxState } from './events.js';

// The control socket speaks JSON lines, one object a line, every line bounded. A request is
// `{ id, op, ... }`; a reply `{ id, ok: true, result }` or `{ id, ok: false, error }`; a spawn
// also gets `{ id, event: 'spawned' | 'stdout' | 'stderr' | 'exit', ... }` lines until it ends.

/** The longest request line the owner reads: a 3 MiB file write, base64-encoded, fits. */
export const MAX_REQUEST_LINE = 4 << 20;
/** The longest reply line a client reads (the largest is a file read or the kept logs). */
export const MAX_REPLY_LINE = 96 << 20;
/** Largest file `files.read`/`files.write` move over the socket in one call. */
export const MAX_FILE_BYTES = 3 << 20;
/** Clients an owner serves at once; more are refused with a line saying so. */
export const MAX_CLIENTS = 64;
/** An idle connection (no request in flight, no program streaming) is closed after this. */
export const IDLE_TIMEOUT_MS = 60_000;
/** The socket's name in a session's directory. */
export const SOCKET_NAME = 'control.sock';
/** sun_path holds 108 bytes, the last a NUL. */
export const MAX_SOCKET_PATH = 107;

/** What `Sandbox.list()` and `sandbox.info()` tell about a sandbox. */
export interface SandboxInfo {
  /** The sandbox's id (`sb-` and 12 hex digits). */
  id: string;
  /** Its name, if it has one. */
  name: string | null;
  /** Its labels. */
  labels: Record<string, string>;
  /** Where it is in its life. */
  state: SandboxState;
  /** When the Sandbox object was made (ISO 8601). */
  createdAt: string;
  /** Pid of the Node process that owns it (and its lifetime). */
  ownerPid: number;
  /** Host pid of its init once started, else null. */
  pid: number | null;
  /** Its image: an image id, or the kind (`host`, `directory`, ...). */
  image: string;
  /** Programs running in it now. */
  running: number;
  /** When it will be destroyed by its timeout (ISO 8601), or null. */
  timeoutAt: string | null;
  /** Bytes of output kept for `logs()`; 0 when it keeps none. */
  keepLogs: number;
}

/** One chunk of kept output: which stream, and the bytes. */
export interface LogChunk {
  /** 1: stdout, 2: stderr. */
  fd: 1 | 2;
  /** The bytes as the program wrote them (a chunk may be cut at the front when the ring is full). */
  data: Buffer;
}

/** An error as it crosses the socket. */
export interface WireError {
  code: SandboxErrorCode | string;
  name: string;
  message: string;
  field?: string;
}

/** A SandboxError as a plain object for the wire; anything else as an internal error. */
export function toWire(err: unknown): WireError {
  if (err instanceof SandboxError) {
    const field = (err as Partial<SandboxOptionsError>).field;
    return { code: err.code, name: err.name, message: err.message, ...(typeof field === 'string' ? { field } : {}) };
  }
  return { code: 'ERR_SANDBOX_HELPER', name: 'Error', message: String((err as Error)?.message ?? err).slice(0, 1000) };
}

/** The typed error a wire error stands for, as the client throws it. */
export function fromWire(e: WireError, target: string): SandboxError {
  if (e.code === 'ERR_SANDBOX_NOT_FOUND') return new SandboxNotFoundError(target);
  if (e.code === 'ERR_SANDBOX_OPTIONS' && e.field) {
    const err = new SandboxOptionsError(e.field, '');
    err.message = e.message;
    return err;
  }
  const err = new SandboxError(e.code as SandboxErrorCode, `${target}: ${e.message}`);
  err.name = e.name; // the owner's class, for messages; code is what to switch on
  return err;
}

/**
 * Calls `onLine` with each parsed line of `socket`; a line over `maxLine` bytes or one that is
 * not a JSON object calls `onBad` once and stops reading. Bounded: at most `maxLine` bytes wait.
 */
export function readJsonLines(
  socket: Socket,
  maxLine: number,
  onLine: (message: Record<string, unknown>) => void,
  onBad: (why: string) => void
): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let broken = false;
  socket.on('data', (chunk: Buffer) => {
    if (broken) return;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (pendingBytes + piece.length > maxLine) return bad(`a line is longer than ${maxLine} bytes`);
      const line = pending.length ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      if (line.length === 0) continue;
      let message: unknown;
      try {
        message = JSON.parse(line.toString('utf8'));
      } catch {
        return bad('a line is not JSON');
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message))
        return bad('a line is not a JSON object');
      onLine(message as Record<string, unknown>);
      if (broken || socket.destroyed) return;
    }
    const rest = chunk.subarray(start);
    if (pendingBytes + rest.length > maxLine) return bad(`a line is longer than ${maxLine} bytes`);
    if (rest.length) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  });
  function bad(why: string): void {
    broken = true;
    pending = [];
    onBad(why);
  }
}

/** Writes one message as a line; false when the socket's buffer is full (wait for 'drain'). */
export function sendLine(socket: Socket, message: unknown): boolean {
  if (socket.destroyed || socket.writableEnded) return true;
  return socket.write(`${JSON.stringify(message)}\n`);
}

/**
 * A path the kernel accepts for binding or connecting to the socket at `path`: `path` itself
 * when it fits sun_path, else `/proc/self/fd/<n>/<name>` through an open descriptor of its
 * directory (so a deep state directory still works). `done()` closes that descriptor once the
 * bind or connect has happened. Opening another user's private directory fails here (EACCES).
 */
export function socketAddress(path: string): { address: string; done: () => void } {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return { address: path, done: () => {} };
  const fd = openSync(dirname(path), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  let open = true;
  return {
    address: `/proc/self/fd/${fd}/${basename(path)}`,
    done: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

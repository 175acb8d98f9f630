import type { Readable, Writable } from 'node:stream';
import type { HelperFailure } from '../helper/messages.js';

/** What the helper's file operations report about a path (`lstat` unless `follow`). */
export interface FsStat {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits with setuid/setgid/sticky (`0o7777` mask). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ino: number;
  nlink: number;
  rdevMajor: number;
  rdevMinor: number;
}

/** One directory entry: its name, stat and, for a symlink, its target. */
export interface FsEntry extends FsStat {
  name: string;
  target?: string;
}

/** A failed operation, as the helper reports it (docs/protocol.md, "Files channel"). */
export interface FsOpFailure extends HelperFailure {
  ok: false;
}

/** A request of the files channel; `write` carries its data separately. */
export type FsRequest = { op: string; path: string } & Record<string, unknown>;

type Reply = { ok: true } & Record<string, unknown>;

interface Pending {
  withData: boolean;
  resolve: (value: { reply: Reply; data?: Buffer }) => void;
  reject: (error: FsOpFailure | Error) => void;
}

/** True when `err` is a failure reported by the helper (as opposed to a broken channel). */
export function isFsOpFailure(err: unknown): err is FsOpFailure {
  return typeof err === 'object' && err !== null && (err as { ok?: unknown }).ok === false;
}

/**
 * Client side of a files channel: JSON request lines (a `write` followed by its bytes),
 * answered in order by JSON reply lines (a `read` followed by its bytes). Requests are
 * pipelined: every call writes at once and waits for its own reply.
 */
export class FsChannel {
  private readonly pending: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private dataLeft = -1;
  private chunks: Buffer[] = [];
  private current: { reply: Reply } | undefined;
  private broken: Error | undefined;

  constructor(private readonly input: Readable, private readonly output: Writable) {
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    const end = (err?: Error) => this.fail(err ?? new Error('the files channel closed'));
    input.on('end', () => end());
    input.on('close', () => end());
    input.on('error', end);
    output.on('error', end);
  }

  /** Sends one request and resolves with its reply; rejects with an {@link FsOpFailure}. */
  async call(req: FsRequest, data?: Buffer): Promise<Reply> {
    return (await this.send(req, data, false)).reply;
  }

  /** `read`: resolves with the file's bytes. */
  async read(path: string, max: number): Promise<Buffer> {
    return (await this.send({ op: 'read', path, max }, undefined, true)).data!;
  }

  /** Ends the channel; the worker exits. */
  close(): void {
    this.output.end();
    this.fail(new Error('the files channel was closed'));
  }

  private send(req: FsRequest, data: Buffer | undefined, withData: boolean): Promise<{ reply: Reply; data?: Buffer }> {
    if (this.broken) return Promise.reject(this.broken);
    const line = JSON.stringify(data ? { ...req, size: data.length } : req);
    return new Promise((resolve, reject) => {
      this.pending.push({ withData, resolve, reject });
      this.output.write(data ? Buffer.concat([Buffer.from(`${line}\n`), data]) : `${line}\n`);
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length > 0 || this.dataLeft === 0) {
      if (this.dataLeft >= 0) {
        const n = Math.min(this.dataLeft, this.buf.length);
        if (n > 0) this.chunks.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.dataLeft -= n;
        if (this.dataLeft > 0) return;
        const data = Buffer.concat(this.chunks);
        this.chunks = [];
        this.dataLeft = -1;
        this.pending.shift()?.resolve({ reply: this.current!.reply, data });
        continue;
      }
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const reply = JSON.parse(this.buf.subarray(0, nl).toString('utf8')) as Reply | FsOpFailure;
      this.buf = this.buf.subarray(nl + 1);
      const head = this.pending[0];
      if (!head) continue;
      if (!reply.ok) {
        this.pending.shift();
        head.reject(reply);
      } else if (head.withData) {
        this.current = { reply };
        this.dataLeft = Number(reply.size ?? 0);
      } else {
        this.pending.shift();
        head.resolve({ reply });
      }
    }
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (const p of this.pending.splice(0)) p.reject(error);
  }
}

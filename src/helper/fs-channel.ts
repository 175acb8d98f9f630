import type { Readable, Writable } from 'node:stream';
import type { FsEntry, FsOp, FsReplyMap, FsRequestMap, HelperFailure } from './protocol.js';

// The stat of a path (`lstat` unless `follow`) and a directory entry (its name, stat and, for
// a symlink, its target), as spec/protocol.json describes them.
export type { FsEntry, FsStat } from './protocol.js';

/** A failed operation, as the helper reports it (docs/protocol.md, "Files channel"). */
export interface FsOpFailure extends HelperFailure {
  ok: false;
}

/** A request of the files channel (spec/protocol.json); `write` carries its data separately. */
export type FsRequest = FsRequestMap[FsOp];
/** The success reply to request `R`. */
export type FsReplyTo<R extends FsRequest> = FsReplyMap[R['op']];

/** A reply line as parsed, before the request it answers gives it its type. */
type Reply = { ok: true } & Record<string, unknown>;

/** Longest reply line accepted (the helper sends listings in batches of about 64 KiB). */
export const MAX_REPLY_LINE_BYTES = 1024 * 1024;
/** Most entries one `list` reply may carry, whatever the request asked. */
export const MAX_LIST_ENTRIES = 1_000_000;

/**
 * The channel itself broke: closed, a write failed, or the helper sent something out of
 * bounds. Every pending and later call fails with it; the session opens a new channel.
 */
export class FsChannelBroken extends Error {
  constructor(
    readonly reason: 'closed' | 'overflow' | 'protocol',
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options);
  }
}

interface Pending {
  kind: 'plain' | 'data' | 'list';
  /** Bytes a `read` may bring, entries a `list` may bring. */
  max: number;
  entries?: unknown[];
  /** The caller gave up (AbortSignal): its reply is read and dropped. */
  abandoned?: boolean;
  resolve: (value: { reply: Reply; data?: Buffer }) => void;
  reject: (error: FsOpFailure | Error) => void;
}

/** True when `err` is a failure reported by the helper (as opposed to a broken channel). */
export function isFsOpFailure(err: unknown): err is FsOpFailure {
  return typeof err === 'object' && err !== null && (err as { ok?: unknown }).ok === false;
}

/**
 * Client side of a files channel: JSON request lines (a `write` followed by its bytes),
 * answered in order by JSON reply lines (a `read` followed by its bytes, a `list` as batches
 * flagged `more`). Requests are pipelined: every call writes at once and waits for its own
 * reply. Each chunk is scanned once; a reply line, a read's data and a listing are each
 * capped, and going over breaks the channel instead of growing a buffer.
 */
export class FsChannel {
  private readonly pending: Pending[] = [];
  private line: Buffer[] = [];
  private lineBytes = 0;
  private dataLeft = 0;
  private data: Buffer[] = [];
  private current: Reply | undefined;
  private broken: FsChannelBroken | undefined;
  private readonly onBroken: Array<(err: FsChannelBroken) => void> = [];

  constructor(
    private readonly input: Readable,
    private readonly output: Writable
  ) {
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    // The socket's own error (EPIPE, ECONNRESET) is only how the end showed: kept as the cause.
    const end = (err?: Error) =>
      this.fail(
        new FsChannelBroken('closed', 'the files channel closed (its helper worker or the helper is gone)', {
          cause: err,
        })
      );
    input.on('end', () => end());
    input.on('close', () => end());
    input.on('error', end);
    output.on('error', end);
  }

  /** Runs `fn` once when the channel breaks (at once if it is broken). */
  whenBroken(fn: (err: FsChannelBroken) => void): void {
    if (this.broken) fn(this.broken);
    else this.onBroken.push(fn);
  }

  /** Sends one request and resolves with its reply; rejects with an {@link FsOpFailure}. */
  async call<R extends FsRequest>(req: R, data?: Buffer, signal?: AbortSignal): Promise<FsReplyTo<R>> {
    return (await this.send(req, data, { kind: 'plain', max: 0 }, signal)).reply as unknown as FsReplyTo<R>;
  }

  /** `read`: resolves with the file's bytes (at most `req.max`). */
  async read(req: FsRequestMap['read'] & { max: number }, signal?: AbortSignal): Promise<Buffer> {
    return (await this.send({ ...req, op: 'read' }, undefined, { kind: 'data', max: req.max }, signal)).data!;
  }

  /** `list`: every batch of the listing joined; `truncated` when the helper stopped at `max`. */
  async list(
    req: FsRequestMap['list'] & { max: number },
    signal?: AbortSignal
  ): Promise<{ entries: FsEntry[]; truncated: boolean }> {
    const { reply } = await this.send(
      { ...req, op: 'list' },
      undefined,
      { kind: 'list', max: Math.min(req.max, MAX_LIST_ENTRIES) },
      signal
    );
    return { entries: reply.entries as FsEntry[], truncated: reply.truncated === true };
  }

  /** Ends the channel; the worker exits. */
  close(): void {
    this.output.end();
    this.fail(new FsChannelBroken('closed', 'the files channel was closed'));
  }

  private send(
    req: FsRequest,
    data: Buffer | undefined,
    shape: Pick<Pending, 'kind' | 'max'>,
    signal?: AbortSignal
  ): Promise<{ reply: Reply; data?: Buffer }> {
    if (this.broken) return Promise.reject(this.broken);
    const line = JSON.stringify(data ? { ...req, size: data.length } : req);
    return new Promise((resolve, reject) => {
      const p: Pending = { ...shape, resolve, reject };
      if (signal) {
        const onAbort = () => {
          p.abandoned = true;
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        p.resolve = (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        };
        p.reject = (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        };
      }
      this.pending.push(p);
      this.output.write(data ? Buffer.concat([Buffer.from(`${line}\n`), data]) : `${line}\n`);
    });
  }

  private onData(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.broken) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - off);
        if (!this.pending[0]?.abandoned) this.data.push(chunk.subarray(off, off + n));
        off += n;
        this.dataLeft -= n;
        if (this.dataLeft === 0) this.finishData();
        continue;
      }
      const nl = chunk.indexOf(10, off);
      const end = nl < 0 ? chunk.length : nl;
      if ((this.lineBytes += end - off) > MAX_REPLY_LINE_BYTES) {
        this.fail(new FsChannelBroken('overflow', `a files reply line is longer than ${MAX_REPLY_LINE_BYTES} bytes`));
        return;
      }
      this.line.push(chunk.subarray(off, end));
      off = end + 1;
      if (nl < 0) return;
      const text = (this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line)).toString('utf8');
      this.line = [];
      this.lineBytes = 0;
      this.onLine(text);
    }
  }

  private onLine(text: string): void {
    let reply: Reply | FsOpFailure;
    try {
      reply = JSON.parse(text) as Reply | FsOpFailure;
    } catch (err) {
      this.fail(new FsChannelBroken('protocol', 'the files channel sent a malformed reply', { cause: err }));
      return;
    }
    const head = this.pending[0];
    if (!head) {
      this.fail(new FsChannelBroken('protocol', 'the files channel sent a reply nobody asked for'));
      return;
    }
    if (!reply.ok) {
      this.settle((p) => p.reject(reply as FsOpFailure));
    } else if (head.kind === 'data') {
      const size = Number(reply.size ?? 0);
      if (!Number.isSafeInteger(size) || size < 0 || size > head.max) {
        this.fail(
          new FsChannelBroken(
            'protocol',
            `a files read reply announced ${String(reply.size)} bytes, more than the ${head.max} asked for`
          )
        );
        return;
      }
      this.current = reply;
      this.dataLeft = size;
      if (size === 0) this.finishData();
    } else if (head.kind === 'list') {
      const batch = Array.isArray(reply.entries) ? reply.entries : [];
      head.entries ??= [];
      if (!head.abandoned) for (const e of batch) head.entries.push(e);
      if (head.entries.length > head.max + 1) {
        this.fail(
          new FsChannelBroken('overflow', `a files listing brought more than the ${head.max} entries asked for`)
        );
        return;
      }
      if (reply.more === true) return;
      const entries = head.entries;
      this.settle((p) => p.resolve({ reply: { ...reply, entries } }));
    } else {
      this.settle((p) => p.resolve({ reply: reply as Reply }));
    }
  }

  private finishData(): void {
    const data = this.data.length === 1 ? this.data[0]! : Buffer.concat(this.data);
    this.data = [];
    const reply = this.current!;
    this.current = undefined;
    this.settle((p) => p.resolve({ reply, data }));
  }

  /** The head request is answered: hand it its result unless its caller gave up. */
  private settle(fn: (p: Pending) => void): void {
    const p = this.pending.shift()!;
    if (!p.abandoned) fn(p);
  }

  private fail(error: FsChannelBroken): void {
    if (this.broken) return;
    this.broken = error;
    for (const p of this.pending.splice(0)) if (!p.abandoned) p.reject(error);
    for (const fn of this.onBroken.splice(0)) fn(error);
  }
}

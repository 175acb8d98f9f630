import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { posix } from 'node:path';
import {
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxError,
  SandboxFilesError,
  SandboxHelperError,
  SandboxSetupError,
} from '../errors/sandbox-error.js';
import { setupFailureOf } from '../helper/setup-failure.js';
import type { HelperErrorReply } from '../helper/protocol.js';
import { connection } from '../platform/sessions.js';
import type { ResolvedUser } from '../process/user.js';
import type { UserSpec } from '../process/spawn-options.js';
import {
  FsChannel,
  FsChannelBroken,
  isFsOpFailure,
  type FsEntry,
  type FsReplyTo,
  type FsRequest,
} from '../helper/fs-channel.js';

/** What the files API needs from its sandbox. @internal */
export interface FilesContext {
  id: string;
  start(): Promise<void>;
  closing(): boolean;
  /** A user spec as ids inside the sandbox (names from the image's /etc/passwd). */
  resolveUser(spec: UserSpec): ResolvedUser;
}

/** How one call acts: as whom, and how its path may resolve. @internal */
export interface CallPolicy {
  user: UserSpec;
  followSymlinks: boolean;
  crossMounts: boolean;
  signal?: AbortSignal;
}

/** The error an aborted files call rejects with. @internal */
export function abortedError(operation: string, signal: AbortSignal): SandboxAbortedError {
  return new SandboxAbortedError(`files.${operation}: aborted`, { cause: signal.reason });
}

/**
 * One files channel to a sandbox's helper worker, opened on first use and reopened once it
 * breaks; requests are pipelined on it. Holds the helper connection only while requests are
 * in flight, so an idle channel never keeps Node running. Every failure leaves as a
 * SandboxError: the helper's answer as `SandboxFilesError`, a broken channel as
 * `SandboxHelperError`, an abort as `SandboxAbortedError`. @internal
 */
export class FilesSession {
  private channel: Promise<{ channel: FsChannel; socket: Socket }> | undefined;

  constructor(private readonly ctx: FilesContext) {}

  /** Runs one operation as `policy` says. */
  async call<R extends FsRequest>(operation: string, policy: CallPolicy, req: R, data?: Buffer): Promise<FsReplyTo<R>> {
    const shown = typeof req.beneath === 'string' ? posix.join(req.beneath, req.path) : req.path;
    return this.withChannel(operation, shown, policy, (ch, fields) =>
      ch.call({ ...req, ...fields }, data, policy.signal)
    );
  }

  /** Reads a file's bytes (at most `max`). */
  async read(operation: string, policy: CallPolicy, path: string, max: number): Promise<Buffer> {
    return this.withChannel(operation, path, policy, (ch, fields) =>
      ch.read({ op: 'read', path, max, ...fields }, policy.signal)
    );
  }

  /** Lists a directory (at most `max` entries). */
  async list(
    operation: string,
    policy: CallPolicy,
    path: string,
    max: number
  ): Promise<{ entries: FsEntry[]; truncated: boolean }> {
    return this.withChannel(operation, path, policy, (ch, fields) =>
      ch.list({ op: 'list', path, max, ...fields }, policy.signal)
    );
  }

  /** Closes the channel; its worker exits. */
  close(): void {
    const ch = this.channel;
    this.channel = undefined;
    ch?.then(
      ({ channel, socket }) => {
        channel.close();
        socket.destroy();
      },
      () => {}
    );
  }

  private async withChannel<T>(
    operation: string,
    path: string,
    policy: CallPolicy,
    fn: (ch: FsChannel, fields: Record<string, unknown>) => Promise<T>
  ): Promise<T> {
    if (this.ctx.closing()) throw new SandboxDestroyedError(`files.${operation}`);
    if (policy.signal?.aborted) throw abortedError(operation, policy.signal);
    const hold = connection().hold();
    try {
      const { channel } = await this.open();
      if (policy.signal?.aborted) throw abortedError(operation, policy.signal);
      const user = this.ctx.resolveUser(policy.user);
      return await fn(channel, {
        as: { uid: user.uid, gid: user.gid, groups: user.groups },
        noSymlinks: !policy.followSymlinks,
        noXdev: !policy.crossMounts,
      });
    } catch (err) {
      if (policy.signal?.aborted) throw abortedError(operation, policy.signal);
      if (isFsOpFailure(err)) throw new SandboxFilesError(operation, path, err.errnoName, err.message);
      if (this.ctx.closing()) throw new SandboxDestroyedError(`files.${operation}`);
      if (err instanceof FsChannelBroken) {
        const e = new SandboxHelperError(`files.${operation}: ${path}: ${err.message}`);
        (e as { cause?: unknown }).cause = err;
        throw e;
      }
      if (err instanceof SandboxError) throw err;
      const e = new SandboxHelperError(`files.${operation}: ${path}: ${(err as Error)?.message ?? String(err)}`);
      (e as { cause?: unknown }).cause = err;
      throw e;
    } finally {
      hold.release();
    }
  }

  private open(): Promise<{ channel: FsChannel; socket: Socket }> {
    if (this.channel) return this.channel;
    const opening = (async () => {
      await this.ctx.start();
      const conn = connection();
      const name = `fs-${randomBytes(6).toString('hex')}`;
      const waiter = conn.awaitHandle(name);
      try {
        await conn.request('fs', { sandbox: this.ctx.id, channel: name });
      } catch (err) {
        waiter.cancel();
        if ((err as HelperErrorReply)?.type === 'error')
          throw new SandboxSetupError('files', setupFailureOf(err as HelperErrorReply));
        throw err;
      }
      const socket = await waiter.socket;
      socket.unref();
      const channel = new FsChannel(socket, socket);
      // A broken channel is dropped at once, so the next call opens a new one instead of
      // writing into a dead socket.
      channel.whenBroken(() => {
        if (this.channel === opening) this.channel = undefined;
        socket.destroy();
      });
      return { channel, socket };
    })();
    this.channel = opening;
    opening.catch(() => {
      if (this.channel === opening) this.channel = undefined;
    });
    return opening;
  }
}

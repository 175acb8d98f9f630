import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SandboxDestroyedError, SandboxFilesError, SandboxSetupError } from '../errors/sandbox-error.js';
import { setupFailureOf } from '../helper/setup-failure.js';
import type { HelperErrorReply } from '../helper/messages.js';
import { connection } from '../platform/runtime.js';
import { FsChannel, isFsOpFailure, type FsRequest } from './fs-channel.js';

/** What the files API needs from its sandbox. @internal */
export interface FilesContext {
  id: string;
  start(): Promise<void>;
  closing(): boolean;
}

/**
 * One files channel to a sandbox's helper worker, opened on first use and reopened if it
 * breaks; requests are pipelined on it. Holds the helper connection only while requests are
 * in flight, so an idle channel never keeps Node running. @internal
 */
export class FilesSession {
  private channel: Promise<{ channel: FsChannel; socket: Socket }> | undefined;

  constructor(private readonly ctx: FilesContext) {}

  /** Runs one operation; failures become `SandboxFilesError`. */
  async call(operation: string, req: FsRequest, data?: Buffer): Promise<Record<string, unknown>> {
    return this.withChannel(operation, req.path, (ch) => ch.call(req, data));
  }

  /** Reads a file's bytes (at most `max`). */
  async read(operation: string, path: string, max: number): Promise<Buffer> {
    return this.withChannel(operation, path, (ch) => ch.read(path, max));
  }

  /** Closes the channel; its worker exits. */
  close(): void {
    const ch = this.channel;
    this.channel = undefined;
    void ch?.then(({ channel, socket }) => { channel.close(); socket.destroy(); }, () => {});
  }

  private async withChannel<T>(operation: string, path: string, fn: (ch: FsChannel) => Promise<T>): Promise<T> {
    if (this.ctx.closing()) throw new SandboxDestroyedError(`files.${operation}`);
    const conn = connection();
    conn.hold();
    try {
      const { channel } = await this.open();
      return await fn(channel);
    } catch (err) {
      if (isFsOpFailure(err)) throw new SandboxFilesError(operation, path, err.errnoName, err.message);
      this.channel = undefined; // broken: the next call opens a new one
      if (this.ctx.closing()) throw new SandboxDestroyedError(`files.${operation}`);
      throw err;
    } finally {
      conn.release();
    }
  }

  private open(): Promise<{ channel: FsChannel; socket: Socket }> {
    this.channel ??= (async () => {
      await this.ctx.start();
      const conn = connection();
      const name = `fs-${randomBytes(6).toString('hex')}`;
      const waiter = conn.awaitHandle(name);
      try {
        await conn.request({ type: 'fs', sandbox: this.ctx.id, channel: name });
      } catch (err) {
        waiter.cancel();
        if ((err as HelperErrorReply)?.type === 'error') throw new SandboxSetupError('files', setupFailureOf(err as HelperErrorReply));
        throw err;
      }
      const socket = await waiter.socket;
      socket.unref();
      return { channel: new FsChannel(socket, socket), socket };
    })();
    this.channel.catch(() => { this.channel = undefined; });
    return this.channel;
  }
}

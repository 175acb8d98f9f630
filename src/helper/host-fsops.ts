import { spawn, type ChildProcess } from 'node:child_process';
import { helperPath } from './helper-path.js';
import { FsChannel, isFsOpFailure, type FsReplyTo, type FsRequest } from './fs-channel.js';
import { SandboxImageError } from '../errors/sandbox-error.js';

/**
 * `sandkit-helper fsops <dir>` on a host directory sandkit owns (a layer being imported or
 * exported): the operations Node has no call for — whiteouts (`mknod 0/0`), xattrs, device
 * nodes. One helper process per import or export; requests are pipelined.
 */
export class HostFsOps {
  private readonly child: ChildProcess;
  private readonly channel: FsChannel;
  private stderr = '';

  private constructor(readonly root: string) {
    this.child = spawn(helperPath(), ['fsops', root], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    this.channel = new FsChannel(this.child.stdout!, this.child.stdin!);
  }

  /** Starts a helper serving `root`; `close()` it when done. */
  static open(root: string): HostFsOps {
    return new HostFsOps(root);
  }

  /** Runs one operation; a failure becomes a `SandboxImageError` naming the path. */
  async call<R extends FsRequest>(req: R): Promise<FsReplyTo<R>> {
    try {
      return await this.channel.call(req);
    } catch (err) {
      const detail = isFsOpFailure(err)
        ? err.message
        : `${(err as Error).message}${this.stderr ? `: ${this.stderr.trim()}` : ''}`;
      throw new SandboxImageError('unsupported', `${req.op} ${req.path}: ${detail}`, req.path, { cause: err });
    }
  }

  /** Like `call`, but a failure resolves to null (for best-effort metadata). */
  async tryCall<R extends FsRequest>(req: R): Promise<FsReplyTo<R> | null> {
    try {
      return await this.channel.call(req);
    } catch (err) {
      if (isFsOpFailure(err)) return null;
      throw err;
    }
  }

  /** The xattrs of a path (not following a final symlink), values as Buffers. */
  async xattrs(path: string): Promise<Record<string, Buffer>> {
    const reply = await this.tryCall({ op: 'xattrs', path });
    const out: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries((reply?.xattrs ?? {}) as Record<string, string>))
      out[k] = Buffer.from(v, 'base64');
    return out;
  }

  /** Ends the helper and waits for it. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.channel.close();
    await exited;
  }
}

import type { LogChunk } from './control-protocol.js';

/** The last `capacity` bytes a sandbox's programs wrote, in order, stdout and stderr apart. */
export class LogRing {
  private chunks: LogChunk[] = [];
  private bytes = 0;

  constructor(readonly capacity: number) {}

  push(fd: 1 | 2, data: Buffer): void {
    if (data.length >= this.capacity) {
      this.chunks = [{ fd, data: Buffer.from(data.subarray(data.length - this.capacity)) }];
      this.bytes = this.capacity;
      return;
    }
    // Copied: the chunk's buffer may be a slice of a larger one that would stay alive.
    this.chunks.push({ fd, data: Buffer.from(data) });
    this.bytes += data.length;
    while (this.bytes > this.capacity) {
      const first = this.chunks[0]!;
      const over = this.bytes - this.capacity;
      if (first.data.length <= over) {
        this.chunks.shift();
        this.bytes -= first.data.length;
      } else {
        first.data = first.data.subarray(over);
        this.bytes -= over;
      }
    }
  }

  /** What is kept, oldest first. */
  snapshot(): LogChunk[] {
    return this.chunks.map((c) => ({ fd: c.fd, data: c.data }));
  }
}

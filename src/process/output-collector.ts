/** Bytes still allowed for stdout and stderr together (`limits.output`). */
export interface SharedRoom {
  bytes: number;
}

/**
 * Keeps the first bytes of one stream for the result, cut exactly: at most `limit` bytes of
 * this stream and at most what is left of the room it shares with the other stream, so the
 * two together never keep more than `limits.output`. The rest is counted and dropped.
 */
export class OutputCollector {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte counted, kept or not. */
  totalBytes = 0;

  constructor(
    private readonly limit: number,
    private readonly shared: SharedRoom = { bytes: Infinity }
  ) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    const room = Math.min(this.limit - this.kept, this.shared.bytes);
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.kept += part.length;
    this.shared.bytes -= part.length;
  }

  get truncated(): boolean {
    return this.totalBytes > this.kept;
  }

  text(): string {
    return this.buffer().toString('utf8');
  }

  buffer(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decompressed } from '../../src/archive/compression.js';

async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}
async function all(source: AsyncIterable<Buffer>): Promise<{ data: Buffer; largest: number }> {
  const parts: Buffer[] = [];
  let largest = 0;
  for await (const c of source) {
    parts.push(Buffer.from(c));
    largest = Math.max(largest, c.length);
  }
  return { data: Buffer.concat(parts), largest };
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const hasZstd = (() => {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('zstd layers', () => {
  it.skipIf(!hasZstd)(
    'decode in any chunking, multi-frame and with checksums, at most one block per yield',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sandkit-zstd-'));
      const plain = Buffer.concat([randomBytes(300_000), Buffer.alloc(2_000_000, 'x'), randomBytes(1000)]);
      writeFileSync(join(dir, 'p'), plain);
      execFileSync('zstd', ['-q', '-19', '--check', join(dir, 'p'), '-o', join(dir, 'p.zst')]);
      const z = readFileSync(join(dir, 'p.zst'));
      for (const size of [1, 7, 4096, 65536, z.length]) {
        const { data, largest } = await all(decompressed(chunks(z, size)));
        expect(sha(data)).toBe(sha(plain));
        expect(largest).toBeLessThanOrEqual(128 << 10);
      }
      const two = await all(decompressed(chunks(Buffer.concat([z, z]), 65536)));
      expect(two.data.length).toBe(plain.length * 2);
    }
  );

  it('refuses a frame asking for a huge window before allocating it, and a truncated stream', async () => {
    const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88, 0, 0, 0]);
    await expect(all(decompressed(chunks(huge, 64)))).rejects.toMatchObject({ reason: 'unsupported' });
    // single-segment frame claiming 2 GiB of content
    const big = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 0x80, 1, 0, 0]);
    await expect(all(decompressed(chunks(big, 64)))).rejects.toMatchObject({ reason: 'unsupported' });
    const cut = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50, 0x04, 0x01, 0]);
    await expect(all(decompressed(chunks(cut, 64)))).rejects.toMatchObject({
      code: 'ERR_SANDBOX_IMAGE',
      reason: 'format',
    });
    const garbage = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(5000)]);
    await expect(all(decompressed(chunks(garbage, 64)))).rejects.toMatchObject({ code: 'ERR_SANDBOX_IMAGE' });
  });
});

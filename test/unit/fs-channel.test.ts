// FsChannel's bounds, fed by hand over a stream pair: what a hostile or broken worker may send
// must never grow a host buffer past its cap nor cost more than one scan per byte.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FsChannel, FsChannelBroken, MAX_REPLY_LINE_BYTES } from '../../src/helper/fs-channel.js';

function pair() {
  const fromWorker = new PassThrough();
  const toWorker = new PassThrough();
  return { channel: new FsChannel(fromWorker, toWorker), fromWorker };
}

describe('FsChannel bounds', () => {
  it('a reply line over the cap breaks the channel instead of growing', async () => {
    const { channel, fromWorker } = pair();
    const call = channel.call({ op: 'stat', path: '/' }).catch((e: unknown) => e);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    for (let sent = 0; sent <= MAX_REPLY_LINE_BYTES; sent += chunk.length) fromWorker.write(chunk);
    const err = await call;
    expect(err).toBeInstanceOf(FsChannelBroken);
    expect(err).toMatchObject({ reason: 'overflow' });
    await expect(channel.call({ op: 'stat', path: '/' })).rejects.toBeInstanceOf(FsChannelBroken);
  });

  it('a listing of 2,000 long entries in batches, fed in small chunks, is parsed in linear time', async () => {
    const { channel, fromWorker } = pair();
    const entry = { name: 'x', type: 'symlink', target: 'a'.repeat(4000) };
    const batch = (n: number, more: boolean) =>
      `${JSON.stringify({ ok: true, entries: Array(n).fill(entry), ...(more && { more: true }) })}\n`;
    const wire = Buffer.from(Array.from({ length: 125 }, (_, i) => batch(16, i < 124)).join(''));
    const t0 = performance.now();
    const listing = channel.list({ op: 'list', path: '/', max: 100_000 });
    for (let off = 0; off < wire.length; off += 1024) fromWorker.write(wire.subarray(off, off + 1024));
    const { entries } = await listing;
    expect(entries).toHaveLength(2000);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('a listing longer than asked for, or a read bigger than asked for, breaks the channel', async () => {
    const a = pair();
    const listing = a.channel.list({ op: 'list', path: '/', max: 1 }).catch((e: unknown) => e);
    a.fromWorker.write(`${JSON.stringify({ ok: true, entries: [{}, {}, {}], more: true })}\n`);
    expect(await listing).toMatchObject({ reason: 'overflow' });
    const b = pair();
    const read = b.channel.read({ op: 'read', path: '/', max: 10 }).catch((e: unknown) => e);
    b.fromWorker.write('{"ok":true,"size":1000000000}\n');
    expect(await read).toMatchObject({ reason: 'protocol' });
  });

  it('an abandoned call keeps the channel in step', async () => {
    const { channel, fromWorker } = pair();
    const ac = new AbortController();
    const first = channel.read({ op: 'read', path: '/a', max: 10 }, ac.signal).catch((e: unknown) => e);
    const second = channel.call({ op: 'stat', path: '/b' });
    ac.abort(new Error('stop'));
    expect(await first).toMatchObject({ message: 'stop' });
    fromWorker.write('{"ok":true,"size":3}\nabc{"ok":true,"type":"dir"}\n');
    expect(await second).toMatchObject({ type: 'dir' });
  });
});

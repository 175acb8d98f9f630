// Options that used to be accepted and then did something else than asked.
import { randomBytes } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { Image, SandboxAbortedError, SandboxUnsupportedError } from '../../src/index.js';
import { layerTar } from '../helpers/images.js';
import { mountsMentioning, sandboxDirsUnder, stateRoot } from '../helpers/host.js';
import { cgroupsFor } from '../../src/sandbox/runtime.js';
import { it } from '../helpers/sandboxes.js';

describe('accepted options do what they say', () => {
  it('a wallTime past the 2^31 ms timer range does not fire at once', async ({ sandbox }) => {
    const sb = sandbox();
    for (const wallTime of [2 ** 31, 2 ** 31 + 5000, 30 * 24 * 3_600_000, '960h']) {
      const r = await sb.run(['sleep', '0.3'], { limits: { wallTime } });
      expect(r.status, `wallTime ${wallTime}`).toBe('ok');
      expect(r.wallTimeMs).toBeGreaterThanOrEqual(250);
    }
  });

  it('ioWeight without the v2 io controller rejects the start instead of being ignored', async ({ sandbox }) => {
    const avail = cgroupsFor();
    const hasIo = avail.ok && avail.tree.plan.controllers.io === 'v2';
    const sb = sandbox({ limits: { ioWeight: 200 } });
    const started = await sb.start().then(
      () => undefined,
      (e: unknown) => e
    );
    if (hasIo) {
      expect(started).toBeUndefined();
    } else {
      expect(started).toBeInstanceOf(SandboxUnsupportedError);
      expect((started as SandboxUnsupportedError).missing).toEqual(['cgroup io limit']);
    }
  });

  it('argv + env near the kernel ARG_MAX (2 MiB) reach the program', async ({ sandbox }) => {
    const sb = sandbox();
    const arg = 'a'.repeat(100_000); // one argument may be at most 128 KiB (MAX_ARG_STRLEN)
    const args = Array.from({ length: 17 }, () => arg);
    const env = { BIG: 'e'.repeat(100_000) };
    const r = await sb.run(['sh', '-c', 'echo $# ${#BIG}', 'sh', ...args], { env });
    expect(r).toMatchObject({ status: 'ok', stdout: '17 100000\n' });
  });
});

describe('long operations take a signal', () => {
  it('an import aborted midway rejects with SandboxAbortedError and leaves nothing in the store', async ({
    tempDir,
  }) => {
    const dir = tempDir();
    const tar = join(dir, 'big.tar.gz');
    writeFileSync(tar, gzipSync(layerTar([{ path: 'big', content: randomBytes(24 * 2 ** 20) }]), { level: 1 }));
    const store = join(dir, 'store');
    const controller = new AbortController();
    const err = await Image.fromTar(tar, {
      store,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }).then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(SandboxAbortedError);
    expect(readdirSync(join(store, 'tmp'))).toEqual([]);
    expect(readdirSync(join(store, 'layers'))).toEqual([]);
    expect(Image.list({ store })).toEqual([]);
  });

  it('a start aborted while the sandbox is built destroys it and leaves nothing', async ({ sandbox }) => {
    const sb = sandbox();
    const controller = new AbortController();
    sb.once('starting', () => controller.abort(new Error('changed my mind')));
    const err = await sb.start({ signal: controller.signal }).then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(SandboxAbortedError);
    expect((err as SandboxAbortedError).cause).toEqual(new Error('changed my mind'));
    await sb.destroy();
    expect(sb.state).toBe('destroyed');
    expect(sandboxDirsUnder(stateRoot()).filter((d) => d.endsWith(`/${sb.id}`))).toEqual([]);
    expect(mountsMentioning(sb.id)).toEqual([]);
  });
});

// Image.pull against a real registry (Debian's docker-registry on 127.0.0.1): by tag and by
// digest, multi-platform indexes, a tampered blob, a registry that dies mid-layer, resume of
// shared layers, and concurrent pulls from several processes sharing one store.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { Image, LayerStore, SandboxImageError, SandboxRegistryError } from '../../src/index.js';
import { dist } from '../helpers/dist.js';
import { runCli } from '../helpers/cli.js';
import { BUSYBOX, layerTar } from '../helpers/images.js';
import { it } from '../helpers/sandboxes.js';
import {
  HOST_ARCH,
  skopeoPush,
  startProxy,
  startRegistry,
  writeImage,
  writeLayout,
  type RunningRegistry,
} from '../helpers/registry.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { removeTreeSync } from '../../src/platform/remove-tree.js';

const run = promisify(execFile);
const OTHER_ARCH = HOST_ARCH === 'amd64' ? 'arm64' : 'amd64';

const base = layerTar([
  { path: 'bin/', dir: true },
  { path: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 },
  { path: 'bin/sh', symlink: 'busybox' },
  { path: 'etc/', dir: true },
  { path: 'etc/release', content: 'base\n' },
]);
const app = layerTar([
  { path: 'app/', dir: true },
  { path: 'app/hello', content: 'hello from the registry\n' },
]);
const app2 = layerTar([
  { path: 'app/', dir: true },
  { path: 'app/other', content: 'another image\n' },
]);
// Big enough to be cut mid-way: incompressible bytes.
const big = layerTar([{ path: 'big.bin', content: randomBytes(3 << 20) }]);
// The registry stores blobs by digest: the tampered one must be a layer of its own.
const victim = layerTar([{ path: 'victim.bin', content: randomBytes(256 << 10) }]);

let work: string;
let reg: RunningRegistry;
let digestOfApp: string;

/** Every store entry, for "nothing was left" checks. */
function storeContents(store: LayerStore): { layers: string[]; tmp: string[]; images: number } {
  return {
    layers: readdirSync(join(store.root, 'layers')),
    tmp: readdirSync(join(store.root, 'tmp')),
    images: store.list().length,
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sandkit-registry-'));
  reg = await startRegistry(join(work, 'registry'));
  const desc = writeImage(join(work, 'app'), [base, app], HOST_ARCH, { Env: ['GREETING=hi'], Cmd: ['/bin/sh'] });
  digestOfApp = desc.digest;
  await skopeoPush(reg, writeLayout(join(work, 'app'), [desc]), 'test/app:1');
  await skopeoPush(reg, writeLayout(join(work, 'app2'), [writeImage(join(work, 'app2'), [base, app2])]), 'test/app2:1');
  const multi = join(work, 'multi');
  const entries = [writeImage(multi, [base, app], HOST_ARCH), writeImage(multi, [app2], OTHER_ARCH)];
  await skopeoPush(reg, writeLayout(multi, entries), 'test/multi:1', true);
  const foreign = join(work, 'foreign');
  await skopeoPush(
    reg,
    writeLayout(foreign, [writeImage(foreign, [app2], OTHER_ARCH), writeImage(foreign, [app2], 's390x')]),
    'test/foreign:1',
    true
  );
  await skopeoPush(reg, writeLayout(join(work, 'big'), [writeImage(join(work, 'big'), [big])]), 'test/big:1');
  const zst = join(work, 'zstd');
  await skopeoPush(
    reg,
    writeLayout(zst, [writeImage(zst, [base, app2], HOST_ARCH, {}, undefined, 'zstd')]),
    'test/zstd:1'
  );
  await skopeoPush(
    reg,
    writeLayout(join(work, 'tamper'), [writeImage(join(work, 'tamper'), [app2, victim])]),
    'test/tamper:1'
  );
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  if (work) removeTreeSync(work);
});

describe('Image.pull from a registry', () => {
  it('pulls by tag, runs, and finds the image by its reference', async ({ sandbox, tempDir }) => {
    const store = new LayerStore(join(tempDir(), 'store'));
    const seen: string[] = [];
    const img = await Image.pull(`${reg.host}/test/app:1`, {
      store,
      onProgress: (p) => seen.push(`${p.layer}:${p.phase}:${p.done}`),
    });
    expect(img.config.env).toEqual({ GREETING: 'hi' });
    expect(img.stack.layers).toHaveLength(2);
    expect(seen).toContain('0:unpack:true');
    expect(seen).toContain('1:unpack:true');
    expect(Image.fromStore(`${reg.host}/test/app:1`, { store }).id).toBe(img.id);
    const r = await sandbox({ image: img }).run(['/bin/sh', '-c', 'busybox cat /app/hello /etc/release'], {
      env: { PATH: '/bin' },
    });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'hello from the registry\nbase\n' });
    expect(storeContents(store).tmp).toEqual([]);
  });

  it('pulls by digest, and a second image sharing a layer downloads only the new one', async ({ tempDir }) => {
    const store = new LayerStore(join(tempDir(), 'store'));
    const proxy = await startProxy(reg.port);
    try {
      const img = await Image.pull(`${proxy.host}/test/app@${digestOfApp}`, { store });
      expect(img.stack.layers).toHaveLength(2);
      const cached: boolean[] = [];
      const before = [...proxy.blobGets.values()].reduce((a, b) => a + b, 0);
      await Image.pull(`${proxy.host}/test/app2:1`, { store, onProgress: (p) => p.done && cached.push(p.cached) });
      const after = [...proxy.blobGets.values()].reduce((a, b) => a + b, 0);
      expect(cached.sort()).toEqual([false, true]);
      expect(after - before).toBe(2); // its config and its one new layer
    } finally {
      await proxy.close();
    }
  });

  it('takes this platform from a multi-arch index, another on request, and refuses when none matches', async ({
    tempDir,
  }) => {
    const store = new LayerStore(join(tempDir(), 'store'));
    const mine = await Image.pull(`${reg.host}/test/multi:1`, { store });
    expect(mine.stack.layers).toHaveLength(2);
    const other = await Image.pull(`${reg.host}/test/multi:1`, { store, platform: `linux/${OTHER_ARCH}` });
    expect(other.stack.layers).toHaveLength(1);
    const err = await Image.pull(`${reg.host}/test/foreign:1`, { store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxRegistryError);
    expect(err).toMatchObject({ reason: 'platform', registry: reg.host });
    expect((err as SandboxRegistryError).available.sort()).toEqual([`linux/${OTHER_ARCH}`, 'linux/s390x'].sort());
    expect((err as Error).message).toContain(`linux/${HOST_ARCH}`);
    // a single-platform image of another architecture is refused too, unless asked for
    const err2 = await Image.pull(`${reg.host}/test/multi:1`, { store, platform: 'linux/riscv64' }).catch(
      (e: unknown) => e
    );
    expect(err2).toMatchObject({ reason: 'platform' });
  });

  it('pulls zstd layers (a pure-JS decoder, bounded windows)', async ({ sandbox, tempDir }) => {
    const store = new LayerStore(join(tempDir(), 'store'));
    const img = await Image.pull(`${reg.host}/test/zstd:1`, { store });
    const r = await sandbox({ image: img }).run(['/bin/sh', '-c', 'busybox cat /app/other'], { env: { PATH: '/bin' } });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'another image\n' });
  });

  it('refuses a tampered blob with a digest error and leaves nothing in the store', async ({ tempDir }) => {
    const store = new LayerStore(join(tempDir(), 'store'));
    const manifest = JSON.parse(
      (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/test/tamper:1`])).stdout
    ) as { layers: Array<{ digest: string }> };
    const file = reg.blobFile(manifest.layers[1]!.digest);
    const data = readFileSync(file);
    data[data.length >> 1] ^= 0xff;
    writeFileSync(file, data);
    const err = await Image.pull(`${reg.host}/test/tamper:1`, { store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxImageError);
    expect(err).toMatchObject({ reason: 'digest-mismatch', subject: manifest.layers[1]!.digest });
    const left = storeContents(store);
    expect(left.tmp).toEqual([]);
    expect(left.images).toBe(0);
    // the intact first layer may have been committed (it was verified); the tampered one never
    const layerJson = left.layers.map((l) =>
      JSON.parse(readFileSync(join(store.root, 'layers', l, 'layer.json'), 'utf8'))
    );
    expect(layerJson.flatMap((j: { blobDigests: string[] }) => j.blobDigests)).not.toContain(
      manifest.layers[1]!.digest
    );
  });

  it('retries a registry that dies mid-layer, then fails typed with no partial layer', async ({ tempDir }) => {
    const proxy = await startProxy(reg.port);
    try {
      // one cut: the retry resumes and the pull succeeds
      const store = new LayerStore(join(tempDir(), 'store'));
      proxy.cutAfter = 1 << 20;
      proxy.cuts = 1;
      const ok = await Image.pull(`${proxy.host}/test/big:1`, { store, attempts: 3 });
      expect(ok.stack.layers).toHaveLength(1);
      // always cut: typed error after the attempts, nothing left behind
      const store2 = new LayerStore(join(tempDir(), 'store'));
      proxy.blobGets.clear();
      proxy.cuts = Infinity;
      const err = await Image.pull(`${proxy.host}/test/big:1`, { store: store2, attempts: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxRegistryError);
      expect(err).toMatchObject({ reason: 'unavailable', registry: proxy.host });
      const gets = [...proxy.blobGets.values()];
      expect(Math.max(...gets)).toBe(3);
      expect(storeContents(store2)).toEqual({ layers: [], tmp: [], images: 0 });
    } finally {
      await proxy.close();
    }
  });

  it('aborts cleanly: a SandboxAbortedError and no partial files', async ({ tempDir }) => {
    const store = new LayerStore(join(tempDir(), 'store'));
    const ac = new AbortController();
    const err = await Image.pull(`${reg.host}/test/big:1`, {
      store,
      signal: ac.signal,
      onProgress: (p) => p.phase === 'download' && p.bytes > 0 && ac.abort(),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_SANDBOX_ABORTED' });
    expect(storeContents(store)).toEqual({ layers: [], tmp: [], images: 0 });
  });

  it('refuses bad references, bad options and missing repositories', async () => {
    await expect(Image.pull('UPPER/case')).rejects.toMatchObject({ code: 'ERR_SANDBOX_OPTIONS', field: 'ref' });
    await expect(Image.pull('a:b:c')).rejects.toMatchObject({ code: 'ERR_SANDBOX_OPTIONS' });
    await expect(Image.pull('x', { platform: 'no such' })).rejects.toMatchObject({ field: 'platform' });
    await expect(Image.pull(`${reg.host}/test/none:1`)).rejects.toMatchObject({ reason: 'not-found' });
  });

  it('shares layers between concurrent pulls of several processes', async ({ tempDir }) => {
    const dir = tempDir();
    const storeDir = join(dir, 'store');
    const proxy = await startProxy(reg.port);
    try {
      const script = `import { Image } from ${JSON.stringify(dist.index)};
        const img = await Image.pull(${JSON.stringify(`${proxy.host}/test/app:1`)}, { store: ${JSON.stringify(storeDir)} });
        console.log(img.id);`;
      writeFileSync(join(dir, 'pull.mjs'), script);
      const outs = await Promise.all([0, 1, 2].map(() => run(process.execPath, [join(dir, 'pull.mjs')])));
      const ids = new Set(outs.map((o) => o.stdout.trim()));
      expect(ids.size).toBe(1);
      const store = new LayerStore(storeDir);
      expect(store.list('image')).toHaveLength(1);
      expect(readdirSync(join(storeDir, 'layers'))).toHaveLength(2);
      expect(readdirSync(join(storeDir, 'tmp'))).toEqual([]);
      // each layer blob went over the wire once: the others waited on its lock and reused it
      const manifest = JSON.parse(readFileSync(join(work, 'app', 'blobs', 'sha256', digestOfApp.slice(7)), 'utf8')) as {
        layers: Array<{ digest: string }>;
      };
      for (const l of manifest.layers) expect(proxy.blobGets.get(l.digest)).toBe(1);
      expect(existsSync(join(storeDir, 'locks'))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('CLI: image pull prints plain lines off a terminal, run --image REF pulls when missing, image push', async ({
    tempDir,
  }) => {
    const env = { SANDKIT_STORE_DIR: join(tempDir(), 'store') };
    const pulled = await runCli(['image', 'pull', `${reg.host}/test/app2:1`], { env });
    expect(pulled.status, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(pulled.stderr.trim().split('\n')).toHaveLength(2);
    expect(pulled.stderr).not.toContain('\x1b[');
    const ran = await runCli(['run', '--image', `${reg.host}/test/app:1`, '--', '/bin/busybox', 'cat', '/app/hello'], {
      env,
    });
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stdout).toBe('hello from the registry\n');
    expect(ran.stderr).toContain(`pulling ${reg.host}/test/app:1`);
    // Docker's form: the image as the first positional; now in the store, not pulled again
    const again = await runCli(['run', `${reg.host}/test/app:1`, '--', '/bin/busybox', 'cat', '/app/hello'], { env });
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe('hello from the registry\n');
    expect(again.stderr).not.toContain('pulling');
    const fresh = await runCli(['run', `${reg.host}/test/zstd:1`, '--', '/bin/busybox', 'cat', '/app/other'], { env });
    expect(fresh.status, fresh.stderr).toBe(0);
    expect(fresh.stdout).toBe('another image\n');
    const help = await runCli(['image', '--help'], { env });
    expect(help.stdout + help.stderr).toContain('pull');
    const pushed = await runCli(['image', 'push', `${reg.host}/test/app:1`, `${reg.host}/cli/copy:1`], { env });
    expect(pushed.status, pushed.stderr).toBe(0);
    expect(pushed.stdout).toMatch(new RegExp(`^${reg.host}/cli/copy:1@sha256:[0-9a-f]{64}\n$`));
    const missing = await runCli(['image', 'pull', `${reg.host}/test/none:1`], { env });
    expect(missing.status).toBe(125);
    expect(missing.stderr).toContain(`registry ${reg.host}`);
  }, 120_000);
});

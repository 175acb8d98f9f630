// Pulls and pushes through a registry's auth: htpasswd Basic, and a token server this test runs
// (the registry verifies its RS256 JWTs against a throwaway certificate). Wrong credentials
// are a typed error naming the registry, with the password in no message and no event.
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { Image, LayerStore, SandboxRegistryError } from '../../src/index.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { layerTar } from '../helpers/images.js';
import { it } from '../helpers/sandboxes.js';
import { skopeoPush, startRegistry, writeImage, writeLayout, type RunningRegistry } from '../helpers/registry.js';

const PASSWORD = 'correct-horse-battery';
const WRONG = 'wrong-secret-Zq9';
const layer = layerTar([
  { path: 'etc/', dir: true },
  { path: 'etc/hello', content: 'behind auth\n' },
]);

let work: string;
const regs: Record<string, RunningRegistry> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'sandkit-registry-auth-'));
  for (const kind of ['htpasswd', 'token'] as const) {
    const reg = await startRegistry(join(work, kind), kind, PASSWORD);
    regs[kind] = reg;
    const dir = join(work, `img-${kind}`);
    await skopeoPush(reg, writeLayout(dir, [writeImage(dir, [layer])]), 'private/app:1');
  }
}, 120_000);

afterAll(async () => {
  for (const r of Object.values(regs)) await r.stop();
  if (work) removeTreeSync(work);
});

for (const kind of ['htpasswd', 'token'] as const) {
  describe(`a registry behind ${kind} auth`, () => {
    it('pulls with the right credentials (auth option) and pushes back', async ({ tempDir }) => {
      const reg = regs[kind]!;
      const store = new LayerStore(join(tempDir(), 'store'));
      const img = await Image.pull(`${reg.host}/private/app:1`, {
        store,
        auth: { username: 'tester', password: PASSWORD },
      });
      expect(img.stack.layers).toHaveLength(1);
      const pushed = await img.push(`${reg.host}/private/copy:2`, { auth: { username: 'tester', password: PASSWORD } });
      expect(pushed.digest).toMatch(/^sha256:/);
      const again = await Image.pull(`${reg.host}/private/copy@${pushed.digest}`, {
        store: new LayerStore(join(tempDir(), 'store')),
        auth: { username: 'tester', password: PASSWORD },
      });
      expect(again.stack.layers).toHaveLength(1);
      if (kind === 'token') {
        const asked = reg.token!.requests.filter((r) => r.granted).flatMap((r) => r.scopes);
        expect(asked).toContain('repository:private/app:pull');
        expect(asked).toContain('repository:private/copy:pull,push');
      }
    });

    it('reads credentials from REGISTRY_AUTH_FILE and ~/.docker/config.json', async ({ tempDir }) => {
      const reg = regs[kind]!;
      const dir = tempDir();
      const saved = { file: process.env.REGISTRY_AUTH_FILE, docker: process.env.DOCKER_CONFIG };
      try {
        const auth = Buffer.from(`tester:${PASSWORD}`).toString('base64');
        writeFileSync(join(dir, 'auth.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
        process.env.REGISTRY_AUTH_FILE = join(dir, 'auth.json');
        process.env.DOCKER_CONFIG = join(dir, 'none');
        await Image.pull(`${reg.host}/private/app:1`, { store: new LayerStore(join(dir, 's1')) });
        delete process.env.REGISTRY_AUTH_FILE;
        mkdirSync(join(dir, 'docker'));
        writeFileSync(
          join(dir, 'docker', 'config.json'),
          JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } })
        );
        process.env.DOCKER_CONFIG = join(dir, 'docker');
        await Image.pull(`${reg.host}/private/app:1`, { store: new LayerStore(join(dir, 's2')) });
      } finally {
        for (const [k, v] of [
          ['REGISTRY_AUTH_FILE', saved.file],
          ['DOCKER_CONFIG', saved.docker],
        ] as const)
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
      }
    });

    it('refuses wrong or missing credentials with a typed error naming the registry, never the password', async ({
      tempDir,
    }) => {
      const reg = regs[kind]!;
      const store = new LayerStore(join(tempDir(), 'store'));
      const events: unknown[] = [];
      const err = await Image.pull(`${reg.host}/private/app:1`, {
        store,
        auth: { username: 'tester', password: WRONG },
        onProgress: (p) => events.push(p),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxRegistryError);
      expect(err).toMatchObject({ reason: 'auth', registry: reg.host });
      const text = `${(err as Error).message} ${(err as Error).stack} ${JSON.stringify(err)} ${JSON.stringify(events)}`;
      expect(text).toContain(reg.host);
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain(Buffer.from(`tester:${WRONG}`).toString('base64'));
      const anonymous = await Image.pull(`${reg.host}/private/app:1`, { store }).catch((e: unknown) => e);
      expect(anonymous).toMatchObject({ reason: 'auth', registry: reg.host });
      const img = await Image.pull(`${reg.host}/private/app:1`, {
        store,
        auth: { username: 'tester', password: PASSWORD },
      });
      const push = await img
        .push(`${reg.host}/private/x:1`, { auth: { username: 'tester', password: WRONG } })
        .catch((e: unknown) => e);
      expect(push).toMatchObject({ reason: 'auth', registry: reg.host });
      expect((push as Error).message).not.toContain(WRONG);
    });
  });
}

describe('redirects to blob storage', () => {
  let front: Server;
  let storage: Server;
  const seenByStorage: Array<string | undefined> = [];
  afterAll(async () => {
    await new Promise((r) => front?.close(r));
    await new Promise((r) => storage?.close(r));
  });

  it('follows a 307 to another host without sending it the credentials', async ({ tempDir }) => {
    const reg = regs.htpasswd!;
    // "Blob storage": serves blobs straight from the registry's storage dir, recording auth headers.
    storage = createServer((req, res) => {
      seenByStorage.push(req.headers.authorization);
      const digest = /sha256:[0-9a-f]{64}/.exec(req.url ?? '')?.[0];
      if (!digest) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(reg.blobFile(digest)));
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const storagePort = (storage.address() as { port: number }).port;
    // The registry's front: layer blob GETs answer 307 to the storage (on another port, so another origin).
    front = createServer((req, res) => {
      const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
      if (req.method === 'GET' && blob && req.headers.authorization) {
        res.writeHead(307, { location: `http://127.0.0.1:${storagePort}/data/${blob}?sig=x` }).end();
        return;
      }
      const up = httpRequest(
        { host: '127.0.0.1', port: reg.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        }
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(front.address() as { port: number }).port}`;
    const img = await Image.pull(`${host}/private/app:1`, {
      store: new LayerStore(join(tempDir(), 'store')),
      auth: { username: 'tester', password: PASSWORD },
    });
    expect(img.stack.layers).toHaveLength(1);
    expect(seenByStorage.length).toBeGreaterThanOrEqual(2); // the config and the layer
    expect(seenByStorage.every((h) => h === undefined)).toBe(true);
  });

  it('refuses a redirect to plain HTTP on a host that is not loopback', async ({ tempDir }) => {
    const reg = regs.htpasswd!;
    const plain = createServer((req, res) => {
      if (/\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET') {
        // 192.0.2.1 is TEST-NET-1: refused before any connection is tried
        res.writeHead(307, { location: 'http://192.0.2.1/blob' }).end();
        return;
      }
      const up = httpRequest(
        { host: '127.0.0.1', port: reg.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        }
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${(plain.address() as { port: number }).port}`;
      const err = await Image.pull(`${host}/private/app:1`, {
        store: new LayerStore(join(tempDir(), 'store')),
        auth: { username: 'tester', password: PASSWORD },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxRegistryError);
      expect(err).toMatchObject({ reason: 'insecure' });
      expect((err as Error).message).toContain('192.0.2.1');
    } finally {
      await new Promise((r) => plain.close(r));
    }
  });
});

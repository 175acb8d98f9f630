// A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 at a free
// port, with storage in a temp dir; optionally behind htpasswd basic auth or a token server
// this process runs (JWTs signed RS256 by a throwaway key whose self-signed certificate is the
// registry's root bundle, carried in the header's x5c). Images are placed with skopeo.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const run = promisify(execFile);
export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** A free TCP port on 127.0.0.1 (closed again: the registry binds it next). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface TokenServer {
  url: string;
  /** Requests it answered: user (or null), scopes, and whether it granted a token. */
  requests: Array<{ user: string | null; scopes: string[]; granted: boolean }>;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A token server issuing registry JWTs to the users given (any scope asked for). */
export async function startTokenServer(
  dir: string,
  users: Record<string, string>,
  service: string,
  issuer: string
): Promise<TokenServer & { certFile: string }> {
  const keyFile = join(dir, 'token-key.pem');
  const certFile = join(dir, 'token-cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=sandkit-test-token',
    ],
    { stdio: 'ignore' }
  );
  const key = readFileSync(keyFile);
  const der = new X509Certificate(readFileSync(certFile)).raw;
  const requests: TokenServer['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, pass] = basic ? Buffer.from(basic, 'base64').toString().split(/:(.*)/s) : [null, null];
    const granted = user !== null && users[user!] !== undefined && users[user!] === pass;
    requests.push({ user: user ?? null, scopes, granted });
    if (!granted) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      return m ? [{ type: 'repository', name: m[1], actions: m[2]!.split(',') }] : [];
    });
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: user,
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      })
    );
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key);
    const token = `${header}.${claims}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    certFile,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  /** The registry's storage root (blobs under docker/registry/v2/blobs/sha256/xx/<hex>/data). */
  storage: string;
  token?: TokenServer;
  /** Credentials skopeo and pulls use (`user:password`), when auth is on. */
  creds?: string;
  stop(): Promise<void>;
  /** The file holding a blob in the registry's storage. */
  blobFile(digest: string): string;
}

/** Starts docker-registry; `auth` puts it behind htpasswd or a token server, for user `tester`. */
export async function startRegistry(
  dir: string,
  auth: 'none' | 'htpasswd' | 'token' = 'none',
  password = 'correct-horse-battery'
): Promise<RunningRegistry> {
  mkdirSync(dir, { recursive: true });
  const storage = join(dir, 'storage');
  mkdirSync(storage, { recursive: true });
  const port = await freePort();
  let authYaml = '';
  let token: (TokenServer & { certFile: string }) | undefined;
  if (auth === 'htpasswd') {
    writeFileSync(join(dir, 'htpasswd'), `tester:${bcrypt.hashSync(password, 5)}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: sandkit-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    token = await startTokenServer(dir, { tester: password }, 'sandkit-test-registry', 'sandkit-test-issuer');
    authYaml =
      `auth:\n  token:\n    realm: ${token.url}\n    service: sandkit-test-registry\n` +
      `    issuer: sandkit-test-issuer\n    rootcertbundle: ${token.certFile}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n` +
      `  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authYaml}`
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.body?.cancel());
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`docker-registry did not listen on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    storage,
    ...(token ? { token } : {}),
    ...(auth !== 'none' ? { creds: `tester:${password}` } : {}),
    blobFile: (digest) => join(storage, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await token?.close();
    },
  };
}

/** Copies an OCI layout (or one image of it) into the registry with skopeo. */
export async function skopeoPush(reg: RunningRegistry, layout: string, repoTag: string, all = false): Promise<void> {
  await run(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      ...(reg.creds ? ['--dest-creds', reg.creds] : []),
      ...(all ? ['--all'] : []),
      `oci:${layout}`,
      `docker://${reg.host}/${repoTag}`,
    ],
    { maxBuffer: 1 << 20 }
  );
}

export { HOST_ARCH, writeImage, writeLayout } from './images.js';

/** A TCP proxy to `target` that the test controls: it counts connections and can cut blob downloads. */
export interface CuttingProxy {
  host: string;
  /** GET requests for blobs seen (by digest). */
  blobGets: Map<string, number>;
  /** Cut each blob response after this many bytes of the answer (undefined: pass everything). */
  cutAfter: number | undefined;
  /** How many more cuts to make (Infinity: always). */
  cuts: number;
  close(): Promise<void>;
}

/**
 * A proxy between the client and the registry. It reads each request line (one request per
 * connection is forced with `connection: close`), counts blob GETs and, while `cuts` remain,
 * destroys the connection after `cutAfter` bytes of the registry's answer: the registry
 * "dies" mid-layer.
 */
export async function startProxy(targetPort: number): Promise<CuttingProxy> {
  const state: CuttingProxy = { host: '', blobGets: new Map(), cutAfter: undefined, cuts: 0, close: async () => {} };
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    let head = Buffer.alloc(0);
    let upstream: Socket | undefined;
    client.on('error', () => upstream?.destroy());
    const onData = (d: Buffer) => {
      if (upstream) {
        upstream.write(d);
        return;
      }
      head = Buffer.concat([head, d]);
      // Not HTTP (a TLS hello probing for HTTPS): refuse, as a plain HTTP server's error would.
      if (!/^[A-Z]/.test(head.subarray(0, 1).toString('latin1'))) {
        client.destroy();
        return;
      }
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = head.subarray(0, end).toString('latin1');
      const blob = /^GET \S*\/blobs\/(sha256:[0-9a-f]{64})/.exec(text)?.[1];
      if (blob) state.blobGets.set(blob, (state.blobGets.get(blob) ?? 0) + 1);
      const cut = blob !== undefined && state.cutAfter !== undefined && state.cuts > 0;
      if (cut) state.cuts--;
      // One request per connection, so each answer can be cut on its own.
      const rewritten = text.replace(/\r\nconnection:[^\r]*/gi, '') + '\r\nconnection: close\r\n\r\n';
      upstream = connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream!));
      upstream.on('error', () => client.destroy());
      upstream.write(Buffer.concat([Buffer.from(rewritten, 'latin1'), head.subarray(end + 4)]));
      let sent = 0;
      upstream.on('data', (chunk: Buffer) => {
        if (cut && sent + chunk.length > state.cutAfter!) {
          client.write(chunk.subarray(0, state.cutAfter! - sent));
          client.destroy();
          upstream!.destroy();
          return;
        }
        sent += chunk.length;
        client.write(chunk);
      });
      upstream.on('end', () => client.end());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}

import { setTimeout as sleep } from 'node:timers/promises';
import { SandboxAbortedError, SandboxRegistryError } from '../../errors/sandbox-error.js';
import type { RegistryAuth } from './credentials.js';
import { isLoopbackHost, type ImageReference } from './reference.js';

/** How a client talks to one registry. */
export interface ClientOptions {
  /** Credentials (else none: anonymous, as for public images). */
  auth?: RegistryAuth;
  /** Allow plain HTTP to a registry that is not on loopback (and blob redirects to plain HTTP). */
  insecure?: boolean;
  /** Aborts every request. */
  signal?: AbortSignal;
  /** Attempts of a request that failed transiently (connection reset, 5xx, 429). @defaultValue 5 */
  attempts?: number;
  /** First backoff delay in ms, doubled each attempt up to `maxDelayMs`. @defaultValue 250 */
  retryDelayMs?: number;
  /** Longest backoff delay in ms. @defaultValue 8000 */
  maxDelayMs?: number;
}

/** One request: the method, a path under the registry (or an absolute URL from a Location), what it needs. */
export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  /** `/v2/...` or an absolute URL the registry gave. */
  url: string;
  /** The token scopes this request needs (`repository:org/app:pull`). */
  scopes: string[];
  headers?: Record<string, string>;
  /** Made afresh for each attempt (a stream cannot be sent twice). */
  body?: () => Buffer | ReadableStream | undefined;
  /** Statuses that end the request (anything else is an error). */
  expect: number[];
  /** What the request is for, in error messages (`manifest app:1`, `blob sha256:…`). */
  what: string;
}

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 16 * 1024;
const MAX_TOKEN_BODY = 1 << 20;
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** A failed fetch() itself (no answer): refused, reset, DNS, TLS. */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError || (err as NodeJS.ErrnoException)?.code === 'ECONNRESET';
}

/** Why a fetch failed, from its cause chain (`ECONNREFUSED`, `UND_ERR_SOCKET`...), never a URL with secrets. */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

/** A WWW-Authenticate challenge: its scheme and parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (and `Basic realm="…"`). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!))
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Reads a response body whole, refusing past `max` bytes (checked before and while reading). */
export async function readBounded(res: Response, max: number, onTooLarge: () => Error): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw onTooLarge();
  }
  const chunks: Buffer[] = [];
  let n = 0;
  if (!res.body) return Buffer.alloc(0);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel().catch(() => {});
      throw onTooLarge();
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.length));
  }
  return Buffer.concat(chunks);
}

/** The registry's own words about a failure (`errors[0].code: message`), short. */
async function errorDetail(res: Response): Promise<string> {
  try {
    const body = await readBounded(res, MAX_ERROR_BODY, () => new Error('long'));
    const json = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const e = json.errors?.[0];
    if (e) return `: ${String(e.code ?? '')} ${String(e.message ?? '')}`.slice(0, 200).trimEnd();
  } catch {
    // no JSON error body
  }
  return '';
}

/**
 * A client of one registry's distribution API over Node's fetch (undici, keep-alive by
 * default): it finds the scheme (HTTPS; plain HTTP only for loopback hosts or `insecure`),
 * answers `WWW-Authenticate` challenges with Basic credentials or a Bearer token from the
 * challenge's realm, follows redirects itself (credentials go only to the registry's own
 * origin, never to the blob storage it redirects to), and retries transient failures with
 * exponential backoff. Secrets never appear in its errors.
 */
export class RegistryClient {
  private origin: string | undefined;
  private bearer = new Map<string, string>();
  private basic = false;
  private readonly attempts: number;

  constructor(
    readonly ref: Pick<ImageReference, 'registry' | 'host'>,
    private readonly options: ClientOptions = {}
  ) {
    this.attempts = Math.max(1, options.attempts ?? 5);
  }

  /** The registry as users name it, for messages. */
  get registry(): string {
    return this.ref.host === 'registry-1.docker.io' ? this.ref.registry : this.ref.host;
  }

  private get plainHttpAllowed(): boolean {
    return this.options.insecure === true || isLoopbackHost(this.ref.host);
  }

  fail(
    reason: SandboxRegistryError['reason'],
    message: string,
    extra?: { status?: number; cause?: unknown; available?: string[] }
  ): SandboxRegistryError {
    return new SandboxRegistryError(reason, this.registry, message, extra);
  }

  private aborted(): SandboxAbortedError {
    return new SandboxAbortedError(`registry ${this.registry}: aborted`, { cause: this.options.signal?.reason });
  }

  /** Waits before attempt `n` (1-based retries), honouring a short Retry-After. */
  async backoff(n: number, retryAfter?: string | null): Promise<void> {
    const base = this.options.retryDelayMs ?? 250;
    const cap = this.options.maxDelayMs ?? 8000;
    let delay = Math.min(cap, base * 2 ** (n - 1)) * (0.75 + Math.random() * 0.5);
    const after = Number(retryAfter);
    if (Number.isFinite(after) && after > 0) delay = Math.min(cap, after * 1000);
    try {
      await sleep(delay, undefined, { signal: this.options.signal });
    } catch {
      throw this.aborted();
    }
  }

  /** Decides the scheme with a GET /v2/ (HTTPS first; plain HTTP where allowed). */
  private async base(): Promise<string> {
    if (this.origin) return this.origin;
    const https = `https://${this.ref.host}`;
    if (!this.plainHttpAllowed) return (this.origin = https);
    try {
      // A plain HTTP server that never answers a TLS hello must not stall the pull.
      const probe = AbortSignal.timeout(5000);
      const signal = this.options.signal ? AbortSignal.any([this.options.signal, probe]) : probe;
      await fetch(`${https}/v2/`, { method: 'GET', redirect: 'manual', signal }).then((r) => r.body?.cancel());
      return (this.origin = https);
    } catch (err) {
      if (this.options.signal?.aborted) throw this.aborted();
      if (!isNetworkError(err) && (err as Error)?.name !== 'TimeoutError') throw err;
      return (this.origin = `http://${this.ref.host}`);
    }
  }

  /** The Authorization header for the registry's own origin, if we have credentials for it. */
  private authorization(scopes: string[]): string | undefined {
    const token = this.bearer.get(scopes.join(' '));
    if (token) return `Bearer ${token}`;
    const auth = this.options.auth;
    if (this.basic && auth && 'username' in auth)
      return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    return undefined;
  }

  /** Gets a token from the challenge's realm for the scopes. */
  private async fetchToken(challenge: Challenge, scopes: string[]): Promise<string> {
    const auth = this.options.auth;
    if (auth && 'token' in auth) return auth.token;
    const realm = challenge.params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw this.fail('protocol', 'its Bearer challenge names no valid token realm');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (this.options.insecure || isLoopbackHost(url.host))))
      throw this.fail('insecure', `its token realm ${url.origin} is not HTTPS (pass insecure: true to allow it)`);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    const wanted = new Set(scopes);
    if (challenge.params.scope) for (const s of challenge.params.scope.split(' ')) wanted.add(s);
    for (const s of wanted) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, { headers, redirect: 'error', signal: this.options.signal });
      } catch (err) {
        if (this.options.signal?.aborted) throw this.aborted();
        if (attempt < this.attempts) {
          await this.backoff(attempt);
          continue;
        }
        throw this.fail('unavailable', `its token server ${url.host} did not answer (${networkReason(err)})`, {
          cause: err,
        });
      }
      if (TRANSIENT_STATUS.has(res.status) && attempt < this.attempts) {
        await res.body?.cancel().catch(() => {});
        await this.backoff(attempt, res.headers.get('retry-after'));
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel().catch(() => {});
        throw this.fail(
          'auth',
          auth
            ? `its token server refused the credentials of user ${JSON.stringify(auth.username)} (HTTP ${res.status})`
            : `its token server wants credentials (HTTP ${res.status}); pass auth or log in (~/.docker/config.json)`,
          { status: res.status }
        );
      }
      if (res.status !== 200) {
        const detail = await errorDetail(res);
        throw this.fail('protocol', `its token server answered HTTP ${res.status}${detail}`, { status: res.status });
      }
      const body = await readBounded(res, MAX_TOKEN_BODY, () =>
        this.fail('too-large', 'its token answer is larger than 1 MiB')
      );
      let json: { token?: unknown; access_token?: unknown };
      try {
        json = JSON.parse(body.toString('utf8')) as typeof json;
      } catch {
        throw this.fail('protocol', 'its token server answered something other than JSON');
      }
      const token = typeof json.token === 'string' && json.token ? json.token : json.access_token;
      if (typeof token !== 'string' || !token || /[\r\n]/.test(token))
        throw this.fail('protocol', 'its token server answered no token');
      return token;
    }
  }

  /**
   * Sends one request, answering auth challenges, following redirects and retrying transient
   * failures; resolves with a response whose status is in `expect` (its body unread).
   * @throws {SandboxRegistryError} `auth`, `denied`, `not-found`, `unavailable`, `protocol`, `insecure`.
   * @throws {SandboxAbortedError} when the signal aborts.
   */
  async send(req: RegistryRequest): Promise<Response> {
    const origin = await this.base();
    let authTried = false;
    for (let attempt = 1; ; attempt++) {
      let url = new URL(req.url, origin);
      let res: Response;
      let redirects = 0;
      try {
        for (;;) {
          const own = url.origin === origin;
          const headers: Record<string, string> = { ...req.headers };
          const authorization = own ? this.authorization(req.scopes) : undefined;
          if (authorization) headers.authorization = authorization;
          const body = redirects === 0 ? req.body?.() : undefined;
          res = await fetch(url, {
            method: req.method,
            headers,
            body,
            redirect: 'manual',
            signal: this.options.signal,
            ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
          } as RequestInit);
          const location = res.headers.get('location');
          if (![301, 302, 303, 307, 308].includes(res.status) || !location || req.expect.includes(res.status)) break;
          await res.body?.cancel().catch(() => {});
          if (++redirects > MAX_REDIRECTS)
            throw this.fail('protocol', `${req.what}: more than ${MAX_REDIRECTS} redirects`);
          url = new URL(location, url);
          if (
            url.protocol !== 'https:' &&
            !(url.protocol === 'http:' && (this.options.insecure || isLoopbackHost(url.host)))
          )
            throw this.fail('insecure', `${req.what}: redirected to plain HTTP at ${url.host}`);
        }
      } catch (err) {
        if (this.options.signal?.aborted) throw this.aborted();
        if (!isNetworkError(err)) throw err;
        if (attempt < this.attempts) {
          await this.backoff(attempt);
          continue;
        }
        throw this.fail(
          'unavailable',
          `${req.what}: no answer after ${this.attempts} attempts (${networkReason(err)})`,
          { cause: err }
        );
      }
      if (req.expect.includes(res.status)) return res;
      if (res.status === 401 && url.origin === origin) {
        const challenge = parseChallenge(res.headers.get('www-authenticate'));
        await res.body?.cancel().catch(() => {});
        if (!authTried && challenge) {
          authTried = true;
          if (challenge.scheme === 'bearer') {
            this.bearer.set(req.scopes.join(' '), await this.fetchToken(challenge, req.scopes));
            attempt--;
            continue;
          }
          if (challenge.scheme === 'basic' && this.options.auth && 'username' in this.options.auth) {
            this.basic = true;
            attempt--;
            continue;
          }
        }
        const auth = this.options.auth;
        throw this.fail(
          'auth',
          auth && 'username' in auth
            ? `${req.what}: the credentials of user ${JSON.stringify(auth.username)} were refused (HTTP 401)`
            : auth
              ? `${req.what}: the token was refused (HTTP 401)`
              : `${req.what}: authentication required (HTTP 401); pass auth or log in (~/.docker/config.json)`,
          { status: 401 }
        );
      }
      if (TRANSIENT_STATUS.has(res.status) && attempt < this.attempts) {
        await res.body?.cancel().catch(() => {});
        await this.backoff(attempt, res.headers.get('retry-after'));
        continue;
      }
      const detail = await errorDetail(res);
      const status = res.status;
      if (status === 404) throw this.fail('not-found', `${req.what}: not found${detail}`, { status });
      if (status === 403) throw this.fail('denied', `${req.what}: access denied (HTTP 403)${detail}`, { status });
      if (TRANSIENT_STATUS.has(status))
        throw this.fail('unavailable', `${req.what}: HTTP ${status} after ${this.attempts} attempts${detail}`, {
          status,
        });
      throw this.fail('protocol', `${req.what}: unexpected HTTP ${status}${detail}`, { status });
    }
  }
}

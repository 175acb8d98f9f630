// A small HTTP code-runner service on a SandboxPool: POST /run with JSON
// { language, code, stdin?, limits? } and get the verdict back. Every request runs in a fresh
// sandbox taken from a warm pool and destroyed afterwards, so nothing crosses between requests.
//
//   node examples/run.mjs http-runner/server --listen 127.0.0.1:8080 [--pool-size 4]
//   curl -s localhost:8080/run -d '{"language":"python","code":"print(input()[::-1])","stdin":"hello\n"}'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Image, SandboxError, SandboxPool, type SpawnLimits, type SpawnResult } from 'sandkit';

/** How each language's source is run: the code travels as an argument, so no file is written. */
const LANGUAGES: Record<string, (code: string) => string[]> = {
  sh: (code) => ['/bin/sh', '-c', code],
  bash: (code) => ['/bin/bash', '-c', code],
  python: (code) => ['/usr/bin/python3', '-I', '-c', code],
  perl: (code) => ['/usr/bin/perl', '-e', code],
};

/** Settings of the service; every field has a default. */
export interface RunnerOptions {
  /** Started sandboxes kept warm. @defaultValue 4 */
  poolSize?: number;
  /** Largest request body, in bytes (413 beyond). @defaultValue 1 MiB */
  maxBodyBytes?: number;
  /** Largest `code`, in bytes (the kernel caps one argument at 128 KiB). @defaultValue 64 KiB */
  maxCodeBytes?: number;
  /** Bytes of stdout and of stderr returned; the rest is cut and marked truncated. @defaultValue 64 KiB */
  maxOutputBytes?: number;
  /** Requests waiting for a sandbox at most; beyond, 503 at once. @defaultValue 64 */
  maxQueued?: number;
}

/** Limits a request may ask for; each is clamped to its ceiling. */
interface RequestLimits {
  cpuTimeMs?: number;
  wallTimeMs?: number;
  memoryBytes?: number;
}
const DEFAULT_LIMITS = { cpuTimeMs: 2000, wallTimeMs: 5000, memoryBytes: 256 * 1024 ** 2 };
const CEILINGS = { cpuTimeMs: 10_000, wallTimeMs: 20_000, memoryBytes: 512 * 1024 ** 2 };

/** The verdict of one run, as JSON. */
export interface Verdict {
  /** `accepted`, `runtime-error`, `time-limit`, `wall-time-limit`, `memory-limit`, `output-limit`, `security-violation`. */
  verdict: string;
  /** Why, in words. */
  reason: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  cpuTimeMs: number;
  wallTimeMs: number;
  memoryBytes: number | null;
}

/** A running service: its URL, its pool, and a graceful close. */
export interface Runner {
  url: string;
  server: Server;
  pool: SandboxPool;
  /** Stops accepting, lets requests in flight finish, then destroys the pool. */
  close(): Promise<void>;
}

/** An input problem: the client gets `status` and the message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

/** Starts the service on `host:port` (port 0: any free one). */
export async function startRunner(host = '127.0.0.1', port = 0, options: RunnerOptions = {}): Promise<Runner> {
  const settings = {
    poolSize: 4,
    maxBodyBytes: 1024 * 1024,
    maxCodeBytes: 64 * 1024,
    maxOutputBytes: 64 * 1024,
    maxQueued: 64,
    ...options,
  };
  // limitFallback: rootless hosts without cgroup delegation still get CPU and memory rlimits.
  const pool = new SandboxPool({
    size: settings.poolSize,
    image: Image.host(),
    network: 'none',
    limits: { memory: '1G', pids: 256, disk: '64M' },
    limitFallback: 'rlimit',
  });
  let closing = false;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) send(res, status, { error: message });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/health' && req.method === 'GET') return send(res, 200, pool.stats());
    if (req.url !== '/run') throw new HttpError(404, `no such endpoint: ${req.url}`);
    if (req.method !== 'POST') throw new HttpError(405, 'POST /run');
    if (closing) throw new HttpError(503, 'shutting down');
    const body = parseRequest(await readBody(req, settings.maxBodyBytes), settings.maxCodeBytes);
    if (pool.stats().waiting >= settings.maxQueued) throw new HttpError(503, 'too many requests waiting');
    // A client that goes away aborts its run (and its wait for a sandbox).
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new Error('client went away'));
    });
    let result: SpawnResult;
    try {
      // A sandbox of its own (from the warm pool), destroyed after; waits while all are busy.
      result = await pool.run(body.argv, {
        stdin: body.stdin,
        signal: gone.signal,
        maxBuffer: settings.maxOutputBytes,
        limits: body.limits,
      });
    } catch (err) {
      if (gone.signal.aborted) return;
      if (err instanceof SandboxError) throw new HttpError(503, `cannot run: ${err.message}`);
      throw err;
    }
    if (closing) res.setHeader('connection', 'close'); // let a keep-alive client go, so close() is quick
    send(res, 200, verdictOf(result));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    server,
    pool,
    close: async () => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await pool.destroy();
    },
  };
}

/** The body, at most `max` bytes (413 beyond, without reading the rest). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(new HttpError(413, `request body over ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new HttpError(413, `request body over ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface RunRequest {
  argv: string[];
  stdin: string;
  limits: SpawnLimits;
}

/** Checks the JSON of a request; 400 naming the field that is wrong. */
function parseRequest(raw: Buffer, maxCodeBytes: number): RunRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'expected an object { language, code, stdin?, limits? }');
  const { language, code, stdin = '', limits = {}, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new HttpError(400, `unknown field: ${unknown[0]}`);
  if (typeof language !== 'string' || !Object.hasOwn(LANGUAGES, language))
    throw new HttpError(400, `language: expected one of ${Object.keys(LANGUAGES).join(', ')}`);
  if (typeof code !== 'string' || code.length === 0) throw new HttpError(400, 'code: expected a non-empty string');
  if (Buffer.byteLength(code) > maxCodeBytes) throw new HttpError(400, `code: over ${maxCodeBytes} bytes`);
  if (code.includes('\0')) throw new HttpError(400, 'code: contains a NUL byte');
  if (typeof stdin !== 'string') throw new HttpError(400, 'stdin: expected a string');
  return { argv: LANGUAGES[language]!(code), stdin, limits: spawnLimits(limits) };
}

function spawnLimits(limits: unknown): SpawnLimits {
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits))
    throw new HttpError(400, 'limits: expected an object { cpuTimeMs?, wallTimeMs?, memoryBytes? }');
  const asked = limits as Record<string, unknown>;
  const out: Required<RequestLimits> = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(asked)) {
    if (!Object.hasOwn(CEILINGS, key)) throw new HttpError(400, `limits.${key}: unknown limit`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
      throw new HttpError(400, `limits.${key}: expected a positive integer`);
    const k = key as keyof RequestLimits;
    out[k] = Math.min(value, CEILINGS[k]);
  }
  return { cpuTime: out.cpuTimeMs, wallTime: out.wallTimeMs, memory: out.memoryBytes };
}

const REASONS: Record<string, [string, (r: SpawnResult) => string]> = {
  ok: ['accepted', () => 'exited with 0'],
  'nonzero-exit': ['runtime-error', (r) => `exited with ${r.exitCode}`],
  signaled: ['runtime-error', (r) => `killed by ${r.signal}`],
  'time-limit': ['time-limit', (r) => `used ${r.cpuTimeMs.total} ms of CPU time, over the limit`],
  'wall-time-limit': ['wall-time-limit', (r) => `ran ${Math.round(r.wallTimeMs)} ms, over the wall-clock limit`],
  'memory-limit': ['memory-limit', () => 'ran out of its memory limit'],
  'output-limit': ['output-limit', () => 'wrote more output than allowed'],
  'file-size-limit': ['output-limit', () => 'wrote a file larger than allowed'],
  'security-violation': [
    'security-violation',
    (r) => `made a forbidden system call${r.violation ? ` (${r.violation.syscall})` : ''}`,
  ],
};

function verdictOf(r: SpawnResult): Verdict {
  const [verdict, reason] = REASONS[r.status] ?? ['runtime-error', () => r.status];
  return {
    verdict,
    reason: reason(r),
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    cpuTimeMs: r.cpuTimeMs.total,
    wallTimeMs: Math.round(r.wallTimeMs * 1000) / 1000,
    memoryBytes: r.memoryUsedBytes ?? r.maxRssBytes,
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// As a program: `--listen host:port` serves until SIGINT or SIGTERM, then shuts down gracefully.
const listenAt = process.argv.indexOf('--listen');
if (listenAt >= 0) {
  const [host = '127.0.0.1', port = '8080'] = (process.argv[listenAt + 1] ?? '').split(':');
  const sizeAt = process.argv.indexOf('--pool-size');
  const runner = await startRunner(
    host,
    Number(port),
    sizeAt >= 0 ? { poolSize: Number(process.argv[sizeAt + 1]) } : {}
  );
  console.log(`listening on ${runner.url}`);
  const stop = () => {
    runner.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      }
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

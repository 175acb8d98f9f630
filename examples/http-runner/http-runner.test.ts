import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRunner, type Runner, type Verdict } from './server.js';

let runner: Runner;
beforeAll(async () => {
  runner = await startRunner('127.0.0.1', 0, { poolSize: 2, maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  await runner?.close();
});

async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${runner.url}/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('the http-runner example', () => {
  test('accepted: stdin in, stdout out, with times and memory', async () => {
    const { status, json } = await post({ language: 'python', code: 'print(input()[::-1])', stdin: 'hello\n' });
    expect(status).toBe(200);
    const v = json as unknown as Verdict;
    expect(v).toMatchObject({ verdict: 'accepted', exitCode: 0, signal: null, stdout: 'olleh\n', stderr: '' });
    expect(v.wallTimeMs).toBeGreaterThan(0);
    expect(v.cpuTimeMs).toBeGreaterThanOrEqual(0);
    expect(v.memoryBytes).toBeGreaterThan(0);
  });

  test('runtime error: the exit code and stderr', async () => {
    const { status, json } = await post({ language: 'python', code: '1/0' });
    expect(status).toBe(200);
    expect(json).toMatchObject({ verdict: 'runtime-error', exitCode: 1, reason: 'exited with 1' });
    expect(json.stderr).toContain('ZeroDivisionError');
  });

  test('time limit: a busy loop is stopped at its CPU limit', async () => {
    // A generous wall limit: on a loaded host (or rootless, where RLIMIT_CPU counts whole
    // seconds) the CPU limit must still be the one that fires.
    const { status, json } = await post({
      language: 'sh',
      code: 'while :; do :; done',
      limits: { cpuTimeMs: 300, wallTimeMs: 20_000 },
    });
    expect(status).toBe(200);
    expect(json).toMatchObject({ verdict: 'time-limit', exitCode: null });
    expect(json.cpuTimeMs).toBeGreaterThanOrEqual(250);
  });

  test('output is capped and marked truncated', async () => {
    const { json } = await post({ language: 'sh', code: 'head -c 200000 /dev/zero | tr "\\0" x' });
    expect(json.verdict).toBe('accepted');
    expect(json.stdoutTruncated).toBe(true);
    expect((json.stdout as string).length).toBe(64 * 1024);
  });

  test('no state crosses between requests', async () => {
    await post({ language: 'sh', code: 'echo secret > /tmp/left-behind' });
    const { json } = await post({ language: 'sh', code: 'cat /tmp/left-behind 2>/dev/null || echo clean' });
    expect(json.stdout).toBe('clean\n');
  });

  test.each([
    ['not JSON', '{"language":', 400, 'the body is not JSON'],
    ['an array', [], 400, 'expected an object'],
    ['an unknown language', { language: 'cobol', code: 'x' }, 400, 'language: expected one of'],
    ['no code', { language: 'sh' }, 400, 'code: expected a non-empty string'],
    ['a bad stdin', { language: 'sh', code: 'cat', stdin: 5 }, 400, 'stdin: expected a string'],
    ['an unknown limit', { language: 'sh', code: 'true', limits: { disk: 1 } }, 400, 'limits.disk: unknown limit'],
    ['a negative limit', { language: 'sh', code: 'true', limits: { cpuTimeMs: -1 } }, 400, 'limits.cpuTimeMs'],
    ['an unknown field', { language: 'sh', code: 'true', extra: 1 }, 400, 'unknown field: extra'],
    ['a body over the limit', { language: 'sh', code: 'x'.repeat(70_000) }, 413, 'request body over'],
  ])('bad request: %s', async (_name, body, status, message) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(res.json.error).toContain(message);
  });

  test('other paths and methods are refused', async () => {
    expect((await fetch(`${runner.url}/nope`)).status).toBe(404);
    expect((await fetch(`${runner.url}/run`)).status).toBe(405);
    const health = await fetch(`${runner.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ busy: 0 });
  });

  test('concurrent requests each get their own verdict', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => post({ language: 'sh', code: `echo ${i}` })));
    expect(results.map((r) => r.json.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i}\n`));
  });

  test('shuts down gracefully: a request in flight finishes, then the port and pool are closed', async () => {
    const own = await startRunner('127.0.0.1', 0, { poolSize: 1 });
    const inFlight = fetch(`${own.url}/run`, {
      method: 'POST',
      body: JSON.stringify({ language: 'sh', code: 'sleep 0.3; echo done' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = own.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as Verdict).stdout).toBe('done\n');
    await closed;
    await expect(fetch(`${own.url}/health`)).rejects.toThrow();
    expect(own.pool.stats()).toMatchObject({ idle: 0, busy: 0, refilling: 0, destroying: 0 });
  });
});

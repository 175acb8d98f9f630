import { describe, expect } from 'vitest';
import { test } from './fixtures.js';

describe('a server fixture in a sandbox', () => {
  test('serves the files the fixture wrote', async ({ server }) => {
    const res = await fetch(`${server.url}/hello.txt`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello from the sandbox\n');
  });

  test("a test reaches into its server's files through the sandbox", async ({ server }) => {
    await server.sandbox.files.write('/srv/only-here.txt', 'x');
    expect((await fetch(`${server.url}/only-here.txt`)).status).toBe(200);
  });

  test('a missing file is a 404, and the server logged the request', async ({ server }) => {
    const logged = server.sandbox.waitForLog('"GET /nope HTTP/1.1" 404', { timeout: 10_000 });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect(await logged).toContain('/nope');
  });
});

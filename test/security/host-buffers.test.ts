import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, SandboxLineTooLongError } from '../../src/index.js';

// Output floods run only under a wall-time and an output limit in force.
describe('a program cannot make the host buffer without bound', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = new Sandbox();
  });
  afterAll(() => sandbox.destroy());

  it('for await over cat /dev/zero (one endless line) ends with SandboxLineTooLongError, not a host crash', async () => {
    const proc = sandbox.spawn(['cat', '/dev/zero'], { limits: { wallTime: '20s', output: '256M' }, maxBuffer: 0 });
    let error: unknown;
    const heap0 = process.memoryUsage().heapUsed;
    try {
      for await (const line of proc) expect(line).toBe('never');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SandboxLineTooLongError);
    expect(error).toMatchObject({ code: 'ERR_SANDBOX_LIMIT', maxLength: 2 ** 20 });
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(64 * 2 ** 20);
    proc.kill('SIGKILL');
    expect((await proc).status).not.toBe('ok');
  });

  it('lines({ maxLength }): a line of exactly maxLength bytes passes, one byte more ends the iteration', async () => {
    const script = 'head -c 100 /dev/zero | tr "\\0" a; echo; head -c 101 /dev/zero | tr "\\0" b; echo; echo after';
    const proc = sandbox.spawn(['sh', '-c', script], { limits: { wallTime: '20s' } });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const l of proc.lines({ maxLength: 100 })) seen.push(l);
      })()
    ).rejects.toThrow(SandboxLineTooLongError);
    expect(seen).toEqual(['a'.repeat(100)]);
    expect((await proc).stdout).toContain('after'); // the result still has the whole output
  });
});

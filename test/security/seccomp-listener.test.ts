import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox, Seccomp } from '../../src/index.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { PROBE, probeMount } from '../helpers/probe.js';

// Under onViolation('kill') the seccomp listener of the spawn's filter is the reaper's: the
// program must hold none of it (nor any other fd of the reaper's), and must not be able to put
// a listener of its own in front of it to answer CONTINUE to its own denied calls.
describe("seccomp onViolation('kill'): the listener stays with the reaper", () => {
  const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'seccomp-own-listener.c');
  let dir = '';
  let sb: Sandbox;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandkit-listener-'));
    chmodSync(dir, 0o755);
    execFileSync('gcc', ['-O2', '-pthread', '-o', join(dir, 'own-listener'), fixture]);
    sb = new Sandbox({
      security: { seccomp: Seccomp.default().onViolation('kill') },
      mounts: [probeMount(), { source: dir, target: '/t', readonly: true }],
    });
  });
  afterAll(async () => {
    await sb?.destroy();
    if (dir) removeTreeSync(dir);
  });

  it('the program has only fds 0-2, none of them the listener', async () => {
    for (const argv of [
      [PROBE, 'fds'],
      ['sh', '-c', `${PROBE} fds`],
    ]) {
      const r = await sb.run(argv, { stdin: 'ignore' });
      const fds = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
      expect(fds.map(([fd]) => fd)).toEqual(['0', '1', '2']);
      for (const [, target] of fds) expect(target).toMatch(/^(socket:\[\d+\]|\/dev\/null)$/);
    }
  });

  it('a listener of its own is refused (EBUSY) and the denied call still ends the run', async () => {
    const r = await sb.run(['/t/own-listener']);
    expect(r.stdout).toBe('own listener: Device or resource busy\n');
    expect(r).toMatchObject({ status: 'security-violation', signal: 'SIGSYS', violation: { syscall: 'ptrace' } });
  });
});

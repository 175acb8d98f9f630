import { describe, expect } from 'vitest';
import { PROBE } from '../helpers/probe.js';
import { it, lines } from '../helpers/sandboxes.js';

// Orphans are inherited by the spawn's PID 1 (the reaper), which must wait for them.
describe('zombies are reaped', () => {
  it.for([1, 20, 200])('%i orphaned children leave no zombie behind', async (n, { sandbox }) => {
    const result = await sandbox().run([PROBE, 'zombies', String(n)]);
    expect(result.stdout).toBe('zombies=0\n');
    expect(result.exitCode).toBe(0);
  });

  it('no process is left in Z state while the spawn keeps running', async ({ sandbox }) => {
    const script = `for i in 1 2 3 4 5 6 7 8; do (sleep 0.01 &); done; sleep 0.5; ${PROBE} ps`;
    const result = await sandbox().run(['sh', '-c', script]);
    const states = lines(result.stdout).map((l) => l.split(' ')[1]);
    expect(states.length).toBeGreaterThanOrEqual(2); // the reaper and sh
    expect(states).not.toContain('Z');
  });

  it('the result comes back when the command exits before its children', async ({ sandbox }) => {
    const t0 = Date.now();
    const result = await sandbox().run(['sh', '-c', 'sleep 600 & sleep 600 & echo parent done']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'parent done\n' });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

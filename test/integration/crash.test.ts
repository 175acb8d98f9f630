import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { describe, expect } from 'vitest';
import type { Sandbox } from '../../src/index.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { dist } from '../helpers/dist.js';
import { isAlive, mountsMentioning, stateRoot, waitUntil } from '../helpers/host.js';
import { it } from '../helpers/sandboxes.js';

// A host program that starts a sandbox running `sleep 1000`, prints what the test needs to know
// about it as one JSON line, and then waits to be killed.
const CHILD = `
import { Sandbox } from ${JSON.stringify(pathToFileURL(dist.index).href)};
import { readdirSync, readFileSync } from 'node:fs';
const parentOf = (pid) => { try { const s = readFileSync('/proc/' + pid + '/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]); } catch { return 0; } };
const sandbox = new Sandbox();
sandbox.spawn(['sleep', '1000']);
sandbox.once('spawn', ({ pid }) => {
  const helpers = readdirSync('/proc').filter((n) => /^\\d+$/.test(n) && parentOf(n) === process.pid).map(Number);
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const session = readdirSync(process.env.SANDKIT_STATE_DIR + '/sessions').find((n) => n.startsWith(process.pid + '-' + started + '-'));
  console.log(JSON.stringify({ pid, init: sandbox.pid, helpers, session, sandbox: sandbox.id }));
});
setInterval(() => {}, 1000);
`;

interface ChildReport {
  pid: number;
  init: number;
  helpers: number[];
  session: string;
  sandbox: string;
}

describe('kill -9 of the Node process', () => {
  it('leaves no process and no mount, and the next start sweeps its directories', async ({ sandbox, tempDir }) => {
    const stateDir = mkdtempSync(join(stateRoot(), 'crash-'));
    const script = join(tempDir('sandkit-crash-'), 'child.mjs');
    writeFileSync(script, CHILD);
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, SANDKIT_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 25_000,
      killSignal: 'SIGKILL',
    });
    let next: Sandbox | undefined;
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting: ${stderr}`)));
        setTimeout(() => reject(new Error(`child did not report within 15 s: ${stderr}`)), 15_000).unref();
      });
      const report = JSON.parse(line) as ChildReport;
      const sessionDir = join(stateDir, 'sessions', report.session);
      const everyPid = [report.pid, report.init, ...report.helpers];
      expect(report.helpers.length).toBe(1);
      expect(everyPid.every(isAlive)).toBe(true);
      expect(existsSync(join(sessionDir, report.sandbox, 'root'))).toBe(true);
      expect(mountsMentioning(stateDir)).toEqual([]); // the overlay lives in the sandbox's mount namespace only

      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      const gone = await waitUntil(() => everyPid.every((pid) => !isAlive(pid)), 2000);
      expect(gone, `still alive: ${everyPid.filter(isAlive).join(', ')}`).toBe(true);
      expect(mountsMentioning(stateDir)).toEqual([]);
      expect(existsSync(sessionDir)).toBe(true); // a crash leaves directories, for the next start

      next = sandbox({ stateDir });
      await next.start();
      expect(existsSync(sessionDir)).toBe(false);
      expect((await next.run(['true'])).exitCode).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await next?.destroy();
      removeTreeSync(stateDir);
    }
  });
});

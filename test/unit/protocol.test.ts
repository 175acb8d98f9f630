import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { outputs, spec } from '../../scripts/gen-protocol.mjs';
import { EVENT_TYPES, FS_OPS, HANDLE_TYPES, REPLY_TYPES, REQUEST_TYPES } from '../../src/helper/protocol.js';
import { protocolProblem } from '../../src/helper/protocol-check.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

describe('spec/protocol.json', () => {
  it.each(Object.keys(outputs))('%s is what scripts/gen-protocol.mjs makes of it (npm run gen)', (file) => {
    expect(readFileSync(file, 'utf8')).toBe((outputs as Record<string, () => string>)[file]());
  });

  it('has every request the SDK sends', () => {
    const sent = new Set<string>();
    for (const file of sources('src')) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\.request\(\s*'([a-z-]+)'/g)) sent.add(m[1]);
    }
    expect(sent.size).toBeGreaterThan(5);
    for (const type of sent) expect(REQUEST_TYPES, `request ${type}`).toContain(type);
    // And no request of the spec goes unused: each has a caller or is a probe (features).
    for (const type of REQUEST_TYPES) expect(sent, `request ${type}`).toContain(type);
  });

  it('has every message type the connection handles', () => {
    const text = readFileSync('src/helper/helper-connection.ts', 'utf8');
    const handled = new Set([...text.matchAll(/(?:case |msg\.type === )'([a-z-]+)'/g)].map((m) => m[1]));
    expect(handled.size).toBeGreaterThan(5);
    const known = new Set<string>([...REPLY_TYPES, ...EVENT_TYPES, ...HANDLE_TYPES]);
    for (const type of handled) expect(known, `message ${type}`).toContain(type);
  });

  it('has every files-channel op the SDK sends', () => {
    const sent = new Set<string>();
    // The files channel's clients: the files API, host fs ops on layers, snapshots.
    for (const file of ['files', 'helper', 'images', 'snapshots'].flatMap((d) => sources(`src/${d}`))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bop: '([a-z]+)'/g)) sent.add(m[1]);
    }
    expect(sent.size).toBeGreaterThan(5);
    for (const op of sent) expect(FS_OPS, `op ${op}`).toContain(op);
  });

  it('has a reply for every request and a doc for every message', () => {
    for (const [type, m] of Object.entries(spec.requests as Record<string, { reply: string; doc: string }>)) {
      expect(REPLY_TYPES, `${type}.reply`).toContain(m.reply);
      expect(m.doc, type).toBeTruthy();
    }
  });
});

describe('protocolProblem', () => {
  const failure = { step: 'spawn.cwd', syscall: 'chdir', errno: 2, errnoName: 'ENOENT', path: '/x', message: 'no' };
  const exit = {
    type: 'exit',
    sandbox: 's',
    process: 'p',
    exitCode: 0,
    signal: null,
    signo: null,
    wallUs: 5,
    rusage: { userUs: 1, systemUs: 2, maxRssKb: 3 },
    memoryUsedBytes: null,
    oomKilled: false,
    violation: null,
    execError: null,
    outputFiles: { stdout: null, stderr: 4 },
    outputFileLimit: false,
  };

  it('accepts the lines the helper writes', () => {
    expect(protocolProblem({ type: 'hello', version: 1, pid: 3 })).toBeNull();
    expect(protocolProblem({ type: 'created', req: 1, sandbox: 's', pid: 3, upperFd: 7 })).toBeNull();
    expect(protocolProblem({ type: 'spawned', req: 2, process: 'p', pid: null, nspid: 2, preExecCpuUs: 0 })).toBeNull();
    expect(protocolProblem({ type: 'error', req: null, sandbox: null, process: null, ...failure })).toBeNull();
    expect(protocolProblem(exit)).toBeNull();
    expect(
      protocolProblem({ ...exit, sandboxDied: true, execError: failure, violation: { nr: 1, arch: 2 } })
    ).toBeNull();
    expect(
      protocolProblem({
        type: 'features',
        req: 3,
        features: {
          version: 1,
          helperVersion: 'x',
          kernel: '6',
          userns: true,
          unprivilegedUserns: true,
          overlayInUserns: true,
          pidfd: true,
          clone3: true,
          cgroup2: null,
          later: 1,
        },
      })
    ).toBeNull();
    expect(protocolProblem({ type: 'stdio', process: 'p', fd: 1 }, true)).toBeNull();
  });

  it('names what drifted', () => {
    expect(protocolProblem({ type: 'hello', version: 1 })).toBe('hello.pid: missing');
    expect(protocolProblem({ type: 'created', req: 1, sandbox: 's', pid: 3, upperfd: 7 })).toBe(
      'created.upperfd: not in the spec'
    );
    expect(protocolProblem({ ...exit, wallUs: 1.5 })).toBe('exit.wallUs: not an integer');
    expect(protocolProblem({ ...exit, rusage: { userUs: 1, systemUs: 2 } })).toBe('exit.rusage.maxRssKb: missing');
    expect(protocolProblem({ ...exit, signal: 9 })).toBe('exit.signal: not a string');
    expect(protocolProblem({ type: 'created', req: null, sandbox: 's', pid: 3 })).toBe('created.req: null');
    expect(protocolProblem({ type: 'stdio', process: 'p', fd: 3 }, true)).toBe('stdio.fd: 3 out of range');
    expect(protocolProblem({ type: 'teleported' })).toMatch(/not a reply or event/);
  });
});

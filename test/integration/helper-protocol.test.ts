// The native helper spoken to directly over its raw protocol (docs/protocol.md), without the
// SDK: hello, features, create, spawn, stdio sockets, exec errors, protocol errors, kill,
// destroy, reaping of leftovers, and the helper's own death when the channel closes.
// Runs as root and, when possible, rootless (as nobody via setpriv when the suite is root).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  symlinkSync,
} from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { protocolProblem } from '../../src/helper/protocol-check.js';
import { requireFeature } from '../helpers/require-feature.js';
import { hostProcess, isAlive, processesRunning, waitUntil } from '../helpers/host.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const builtHelper = join(repo, 'native/build/sandkit-helper');
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

type Msg = Record<string, any>;

interface Mode {
  name: string;
  /** uid the helper runs as. */
  uid: number;
  gid: number;
  /** How to start it: the helper itself, or setpriv dropping to nobody first. */
  command: (helper: string) => [string, string[]];
}

const modes: Mode[] = [
  ...(isRoot ? [{ name: 'as root', uid: 0, gid: 0, command: (h: string): [string, string[]] => [h, []] }] : []),
  isRoot
    ? {
        name: 'rootless',
        uid: NOBODY,
        gid: NOBODY,
        command: (h: string): [string, string[]] => [
          'setpriv',
          [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', h],
        ],
      }
    : {
        name: 'rootless',
        uid: process.getuid!(),
        gid: process.getgid!(),
        command: (h: string): [string, string[]] => [h, []],
      },
];

/** A started helper with its message log, stdio sockets by "process:fd", and request helper. */
class Helper {
  readonly messages: Msg[] = [];
  /** Lines that break spec/protocol.json (report.c drifting from the spec). */
  readonly protocolProblems: string[] = [];
  readonly output = new Map<string, Promise<string>>();
  readonly sockets = new Map<string, Socket>();
  stderr = '';
  private nextReq = 1;
  private listeners: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (d) => {
      this.stderr += d;
    });
    child.on('message', (msg: Msg, socket?: Socket) => {
      const problem = protocolProblem(msg, socket !== undefined);
      if (problem) this.protocolProblems.push(problem);
      if (socket) {
        const key = `${msg.process}:${msg.fd}`;
        this.sockets.set(key, socket);
        // Collect at once: a socket that reads EOF before anyone listens ends unobserved.
        this.output.set(
          key,
          new Promise((resolve) => {
            let text = '';
            socket.on('data', (d) => {
              text += d;
            });
            socket.on('end', () => resolve(text));
            socket.on('error', () => resolve(text));
          })
        );
      }
      this.messages.push(msg);
      for (const l of this.listeners) l();
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static async start(mode: Mode, helper: string): Promise<Helper> {
    const [cmd, args] = mode.command(helper);
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
      env: { ...process.env, SANDKIT_PARENT_PID: String(process.pid) },
    });
    const h = new Helper(child);
    await h.waitFor((m) => m.type === 'hello');
    return h;
  }

  /** The first message (from the start of the log) matching pred. */
  waitFor(pred: (m: Msg) => boolean, timeoutMs = 10_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(pred);
        if (!found) return false;
        this.listeners = this.listeners.filter((l) => l !== check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(
          new Error(
            `timed out waiting for a message; got ${JSON.stringify(this.messages.slice(-5))}; stderr ${this.stderr}`
          )
        );
      }, timeoutMs);
      if (!check()) this.listeners.push(check);
    });
  }

  /** Send a request (req added unless given) and wait for its final reply. */
  async request(body: Msg): Promise<Msg> {
    const req = body.req ?? this.nextReq++;
    this.child.send({ ...body, req });
    return this.waitFor((m) => m.req === req && m.type !== 'step');
  }

  exitOf(process: string): Promise<Msg> {
    return this.waitFor((m) => m.type === 'exit' && m.process === process);
  }

  async close(): Promise<{ code: number | null; signal: string | null }> {
    if (this.child.connected) this.child.disconnect();
    return this.exited;
  }
}

/** A tiny lower layer over the host's /usr, plus upper/work/merged, owned by the helper's user. */
function makeRootfs(mode: Mode, dir: string) {
  const lower = join(dir, 'lower'),
    upper = join(dir, 'upper'),
    work = join(dir, 'work'),
    merged = join(dir, 'merged');
  for (const d of [lower, upper, work, merged]) mkdirSync(d);
  for (const [link, target] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
    ['sbin', 'usr/sbin'],
  ]) {
    symlinkSync(target, join(lower, link));
  }
  if (isRoot && mode.uid !== 0) for (const d of [dir, lower, upper, work, merged]) chownSync(d, mode.uid, mode.gid);
  const userns = mode.uid !== 0;
  return {
    namespaces: { user: true, uts: true, ipc: true, net: true, cgroup: true },
    uidMap: userns ? [[0, mode.uid, 1]] : [[0, 0, 65536]],
    gidMap: userns ? [[0, mode.gid, 1]] : [[0, 0, 65536]],
    hostname: 'sandbox',
    rootfs: {
      merged,
      overlayOptions: `lowerdir=${lower},upperdir=${upper},workdir=${work}${userns ? ',userxattr' : ''}`,
    },
    binds: [{ source: '/usr', target: '/usr', readonly: true }],
    tmpfs: [{ target: '/tmp', options: 'mode=1777' }],
    proc: true,
    dev: true,
  };
}

const spawnDefaults = {
  env: ['PATH=/usr/bin:/bin', 'HOME=/root'],
  cwd: '/',
  uid: 0,
  gid: 0,
  groups: [],
  stdio: ['pipe', 'pipe', 'pipe'],
  cgroup: null,
  cgroupProcs: [],
  cgroupns: true,
  rlimits: [['core', 0, 0]],
};

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(repo, 'scripts/build-native.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the helper failed:\n${r.stderr}`);
});

describe.each(modes)('sandkit-helper $name', (mode) => {
  let dir: string;
  let helperPath: string;
  let h: Helper;
  let config: ReturnType<typeof makeRootfs>;
  let counter = 0;
  const sandbox = 'sb-main';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sandkit-helper-test-'));
    helperPath = join(dir, 'sandkit-helper');
    copyFileSync(builtHelper, helperPath); // somewhere nobody can execute it
    config = makeRootfs(mode, dir);
    h = await Helper.start(mode, helperPath);
    const created = await h.request({ type: 'create', sandbox, config });
    expect(created).toMatchObject({ type: 'created', sandbox });
  });

  afterAll(async () => {
    try {
      await h?.close();
    } finally {
      if (dir) removeTreeSync(dir);
    }
  });

  async function run(argv: string[], extra: Msg = {}) {
    const proc = `p-${++counter}`;
    const spawned = await h.request({ type: 'spawn', sandbox, process: proc, argv, ...spawnDefaults, ...extra });
    h.sockets.get(`${proc}:0`)?.end();
    if (spawned.type !== 'spawned') return { proc, spawned };
    const exit = await h.exitOf(proc);
    return { proc, spawned, exit, stdout: await h.output.get(`${proc}:1`), stderr: await h.output.get(`${proc}:2`) };
  }

  it('says hello first, with its pid', () => {
    expect(h.messages[0]).toMatchObject({ type: 'hello', version: 1, pid: h.child.pid });
  });

  it('reports features', async () => {
    const reply = await h.request({ type: 'features' });
    expect(reply.type).toBe('features');
    expect(reply.features).toMatchObject({
      version: 1,
      userns: true,
      clone3: expect.any(Boolean),
      kernel: expect.any(String),
    });
  });

  it('reports every setup step in order before created', () => {
    const steps = h.messages.filter((m) => m.type === 'step' && m.sandbox === sandbox).map((m) => m.step);
    expect(steps).toEqual([
      'sandbox.clone',
      'userns.map',
      'userns.setid',
      'userns.limits',
      'mount.private',
      'rootfs.overlay',
      'mount.bind',
      'mount.proc',
      'mount.dev',
      'mount.tmpfs',
      'pivot_root',
      'uts.hostname',
      'net.loopback',
      'sandbox.ready',
    ]);
  });

  it('runs a command as PID 2 with the sandbox hostname and passes its stdout socket', async () => {
    const r = await run(['sh', '-c', 'echo $$; hostname; echo oops >&2']);
    expect(r.spawned).toMatchObject({ type: 'spawned', nspid: 2, pid: expect.any(Number) });
    expect(r.exit).toMatchObject({ exitCode: 0, signal: null, signo: null, execError: null });
    expect(r.exit!.wallUs).toBeGreaterThan(0);
    expect(r.stdout).toBe('2\nsandbox\n');
    expect(r.stderr).toBe('oops\n');
  });

  it('sends stdin through the fd 0 socket', async () => {
    const proc = `p-${++counter}`;
    const spawned = await h.request({
      type: 'spawn',
      sandbox,
      process: proc,
      argv: ['sh', '-c', 'tr a-z A-Z'],
      ...spawnDefaults,
    });
    expect(spawned.type).toBe('spawned');
    h.sockets.get(`${proc}:0`)!.end('hello\n');
    await h.exitOf(proc);
    expect(await h.output.get(`${proc}:1`)).toBe('HELLO\n');
  });

  it('reports the host pid of the command', async () => {
    const proc = `p-${++counter}`;
    const spawned = await h.request({
      type: 'spawn',
      sandbox,
      process: proc,
      argv: ['sleep', '1001'],
      ...spawnDefaults,
      stdio: ['null', 'null', 'null'],
    });
    expect(hostProcess(spawned.pid)?.cmdline).toEqual(['sleep', '1001']);
    expect(await h.request({ type: 'kill', process: proc, signal: 9 })).toMatchObject({ type: 'ok' });
    await h.exitOf(proc);
  });

  it('answers a missing program with spawned, then exit 127 and execError', async () => {
    const r = await run(['no-such-program']);
    expect(r.spawned.type).toBe('spawned');
    expect(r.exit).toMatchObject({
      exitCode: 127,
      signal: null,
      execError: { step: 'exec', syscall: 'execve', errno: 2, errnoName: 'ENOENT', path: 'no-such-program' },
    });
    expect(r.stderr).toBe('sandkit: no-such-program: No such file or directory\n');
  });

  it('answers a program that cannot be executed with exit 126', async () => {
    const r = await run(['/usr']);
    expect(r.exit).toMatchObject({ exitCode: 126, execError: { errnoName: 'EACCES' } });
  });

  it('looks argv[0] up in the PATH of the given env', async () => {
    const r = await run(['true'], { env: ['PATH=/nowhere'] });
    expect(r.exit).toMatchObject({ exitCode: 127, execError: { errnoName: 'ENOENT' } });
  });

  it('fails a bad cwd as a setup error with step spawn.cwd', async () => {
    const r = await run(['true'], { cwd: '/no/such/dir' });
    expect(r.spawned).toMatchObject({
      type: 'error',
      step: 'spawn.cwd',
      syscall: 'chdir',
      errnoName: 'ENOENT',
      path: '/no/such/dir',
      process: r.proc,
    });
  });

  it('applies rlimits', async () => {
    const r = await run(['sh', '-c', 'ulimit -n; ulimit -c'], {
      rlimits: [
        ['nofile', 77, 77],
        ['core', 0, 0],
      ],
    });
    expect(r.stdout).toBe('77\n0\n');
  });

  // Only a root helper may create cgroups here; the unprivileged mode has no cgroup to join.
  if (mode.uid === 0)
    it('starts the spawn in its v2 cgroup, which is empty again when exit arrives', async (ctx) => {
      const { features } = await h.request({ type: 'features' });
      requireFeature(ctx, !!features.cgroup2, 'needs a cgroup2 mount');
      const cgroup = join(features.cgroup2, `sandkit-helper-test-${process.pid}-${counter}`);
      mkdirSync(cgroup);
      try {
        const r = await run(['cat', '/proc/self/cgroup'], { cgroup, cgroupns: false });
        expect(r.stdout).toContain(`0::${cgroup.slice(features.cgroup2.length)}\n`);
        expect(readFileSync(join(cgroup, 'cgroup.procs'), 'utf8')).toBe('');
      } finally {
        rmdirSync(cgroup);
      }
    });

  it.each([
    ['an unknown type', { type: 'explode' }, 'type'],
    ['an unknown field', { type: 'destroy', sandbox: 'x', color: 'red' }, 'color'],
    ['a missing field', { type: 'destroy' }, 'sandbox'],
    ['a wrong type', { type: 'kill', process: 'p', signal: 'TERM' }, 'signal'],
    ['a nested unknown field', { type: 'create', sandbox: 'bad', config: { proc: true } }, 'config'],
    [
      'a relative path',
      { type: 'spawn', sandbox, process: 'rel', argv: ['true'], ...spawnDefaults, cwd: 'tmp' },
      'cwd',
    ],
    [
      'an unknown sandbox',
      { type: 'spawn', sandbox: 'nope', process: 'x', argv: ['true'], ...spawnDefaults },
      'sandbox',
    ],
    [
      'a memfd stdout',
      {
        type: 'spawn',
        sandbox,
        process: 'mf',
        argv: ['true'],
        ...spawnDefaults,
        stdio: ['null', { memfd: '/x' }, 'null'],
      },
      'stdio[1].memfd',
    ],
    [
      'a stdin file with a limit',
      {
        type: 'spawn',
        sandbox,
        process: 'lim',
        argv: ['true'],
        ...spawnDefaults,
        stdio: [{ path: '/x', limit: 5 }, 'null', 'null'],
      },
      'stdio[0].path',
    ],
    [
      'an unknown stdio field',
      {
        type: 'spawn',
        sandbox,
        process: 'uf',
        argv: ['true'],
        ...spawnDefaults,
        stdio: ['null', { path: '/x', mode: 1 }, 'null'],
      },
      'stdio[1].mode',
    ],
    [
      'a pipe name too long',
      {
        type: 'spawn',
        sandbox,
        process: 'pn',
        argv: ['true'],
        ...spawnDefaults,
        stdio: [{ pipe: 'p'.repeat(129) }, 'null', 'null'],
      },
      'stdio[0].pipe',
    ],
    ['a pipe-close without a name', { type: 'pipe-close' }, 'pipe'],
  ])('answers %s with a protocol error naming the field', async (_name, body, field) => {
    const reply = await h.request(body);
    expect(reply).toMatchObject({ type: 'error', step: 'protocol', errno: null, syscall: null });
    expect(reply.message).toContain(field);
  });

  it('ignores Node IPC internals', async () => {
    h.child.send({ cmd: 'NODE_HANDLE_ACK' });
    expect(await h.request({ type: 'features' })).toMatchObject({ type: 'features' });
  });

  it('reports a failing setup step with syscall, errno and path', async () => {
    const bad = { ...config, rootfs: { ...config.rootfs, merged: join(dir, 'missing') } };
    const reply = await h.request({ type: 'create', sandbox: 'sb-bad', config: bad });
    expect(reply).toMatchObject({
      type: 'error',
      sandbox: 'sb-bad',
      step: 'rootfs.overlay',
      syscall: 'mount',
      errnoName: 'ENOENT',
      path: join(dir, 'missing'),
    });
  });

  it('kills what a command leaves behind (setsid, background) when it exits', async () => {
    const marker = String(424200 + counter);
    const r = await run(['sh', '-c', `setsid sleep ${marker} </dev/null >/dev/null 2>&1 & echo started`]);
    expect(r.stdout).toBe('started\n');
    expect(r.exit).toMatchObject({ exitCode: 0 });
    expect(processesRunning(['sleep', marker])).toEqual([]);
  });

  it.each([
    [15, 'SIGTERM'],
    [9, 'SIGKILL'],
  ])('kills a command with signal %i', async (signo, name) => {
    const proc = `p-${++counter}`;
    const spawned = await h.request({
      type: 'spawn',
      sandbox,
      process: proc,
      argv: ['sleep', '1000'],
      ...spawnDefaults,
    });
    expect(spawned.type).toBe('spawned');
    expect(await h.request({ type: 'kill', process: proc, signal: signo })).toMatchObject({ type: 'ok' });
    expect(await h.exitOf(proc)).toMatchObject({ exitCode: null, signal: name, signo });
    expect(isAlive(spawned.pid)).toBe(false);
    expect(await h.request({ type: 'kill', process: proc, signal: signo })).toMatchObject({ type: 'ok' });
  });

  it('forwards SIGSTOP and SIGCONT to the command', async () => {
    const proc = `p-${++counter}`;
    const spawned = await h.request({
      type: 'spawn',
      sandbox,
      process: proc,
      argv: ['sleep', '1000'],
      ...spawnDefaults,
    });
    const state = () => hostProcess(spawned.pid)?.state;
    await h.request({ type: 'kill', process: proc, signal: 19 });
    expect(await waitUntil(() => state() === 'T', 2000, 5)).toBe(true);
    await h.request({ type: 'kill', process: proc, signal: 18 });
    expect(await waitUntil(() => state() === 'S', 2000, 5)).toBe(true);
    await h.request({ type: 'kill', process: proc, signal: 2 });
    expect(await h.exitOf(proc)).toMatchObject({ signal: 'SIGINT', signo: 2 });
  });

  it('destroys idempotently and ends running spawns with SIGKILL', async () => {
    const name = 'sb-destroy';
    expect(await h.request({ type: 'create', sandbox: name, config })).toMatchObject({ type: 'created' });
    const spawned = await h.request({
      type: 'spawn',
      sandbox: name,
      process: 'p-long',
      argv: ['sleep', '1000'],
      ...spawnDefaults,
    });
    expect(spawned.type).toBe('spawned');
    expect(await h.request({ type: 'destroy', sandbox: name })).toMatchObject({ type: 'destroyed', sandbox: name });
    expect(h.messages.find((m) => m.type === 'exit' && m.process === 'p-long')).toMatchObject({
      signal: 'SIGKILL',
      signo: 9,
    });
    expect(isAlive(spawned.pid)).toBe(false);
    expect(await h.request({ type: 'destroy', sandbox: name })).toMatchObject({ type: 'destroyed', sandbox: name });
    expect(await h.request({ type: 'destroy', sandbox: 'never-existed' })).toMatchObject({ type: 'destroyed' });
  });

  it('answers a spawn cut short by destroy as destroyed, not as a setup failure', async () => {
    const name = 'sb-race';
    expect(await h.request({ type: 'create', sandbox: name, config })).toMatchObject({ type: 'created' });
    const spawnReq = 900_001;
    h.child.send({
      type: 'spawn',
      req: spawnReq,
      sandbox: name,
      process: 'p-race',
      argv: ['sleep', '1000'],
      ...spawnDefaults,
    });
    expect(await h.request({ type: 'destroy', sandbox: name })).toMatchObject({ type: 'destroyed' });
    const reply = await h.waitFor((m) => m.req === spawnReq);
    if (reply.type === 'error')
      expect(reply).toMatchObject({ step: 'spawn.clone', destroyed: true, process: 'p-race' });
    else expect(await h.exitOf('p-race')).toMatchObject({ signal: 'SIGKILL' });
  });

  it('runs the first spawn a create carries right after created (create.spawn)', async () => {
    const name = 'sb-first';
    const spawnReq = 900_101;
    const spawn = { type: 'spawn', req: spawnReq, sandbox: name, process: 'p-first', argv: ['echo', 'one trip'] };
    const created = await h.request({ type: 'create', sandbox: name, config, spawn: { ...spawn, ...spawnDefaults } });
    expect(created).toMatchObject({ type: 'created', sandbox: name });
    const spawned = await h.waitFor((m) => m.req === spawnReq);
    expect(spawned).toMatchObject({ type: 'spawned', process: 'p-first', nspid: 2 });
    expect(h.messages.indexOf(created)).toBeLessThan(h.messages.indexOf(spawned));
    h.sockets.get('p-first:0')?.end();
    expect(await h.exitOf('p-first')).toMatchObject({ exitCode: 0 });
    expect(await h.output.get('p-first:1')).toBe('one trip\n');
    expect(await h.request({ type: 'destroy', sandbox: name })).toMatchObject({ type: 'destroyed' });
  });

  it("answers the first spawn of a failing create with the create's error", async () => {
    const name = 'sb-first-bad';
    const spawnReq = 900_102;
    const bad = { ...config, rootfs: { ...config.rootfs, merged: join(dir, 'missing') } };
    const spawn = { type: 'spawn', req: spawnReq, sandbox: name, process: 'p-first-bad', argv: ['true'] };
    const reply = await h.request({
      type: 'create',
      sandbox: name,
      config: bad,
      spawn: { ...spawn, ...spawnDefaults },
    });
    expect(reply).toMatchObject({ type: 'error', sandbox: name, step: 'rootfs.overlay', errnoName: 'ENOENT' });
    const spawnReply = await h.waitFor((m) => m.req === spawnReq);
    expect(spawnReply).toMatchObject({ type: 'error', process: 'p-first-bad', step: 'rootfs.overlay' });
    expect(h.messages.some((m) => m.type === 'spawned' && m.process === 'p-first-bad')).toBe(false);
  });

  it('refuses a create whose first spawn is malformed, naming the field, before anything runs', async () => {
    const spawn = { type: 'spawn', req: 900_103, sandbox: 'sb-first-malformed', process: 'p-m', ...spawnDefaults };
    const noArgv = await h.request({
      type: 'create',
      sandbox: 'sb-first-malformed',
      config,
      spawn: { ...spawn, argv: [] },
    });
    expect(noArgv).toMatchObject({ type: 'error', step: 'protocol' });
    expect(noArgv.message).toMatch(/^spawn\.argv: /);
    const elsewhere = await h.request({
      type: 'create',
      sandbox: 'sb-first-malformed',
      config,
      spawn: { ...spawn, sandbox: 'sb-main', argv: ['true'] },
    });
    expect(elsewhere).toMatchObject({
      type: 'error',
      step: 'protocol',
      message: expect.stringMatching(/^spawn\.sandbox/),
    });
    // Nothing was made: the name is still free.
    expect(await h.request({ type: 'create', sandbox: 'sb-first-malformed', config })).toMatchObject({
      type: 'created',
    });
    expect(await h.request({ type: 'destroy', sandbox: 'sb-first-malformed' })).toMatchObject({ type: 'destroyed' });
  });

  it('does not leak fds across many sandboxes', async () => {
    const fds = () => readdirSync(`/proc/${h.child.pid}/fd`).length;
    const cycle = async (i: number) => {
      const name = `sb-loop-${i}`;
      expect(await h.request({ type: 'create', sandbox: name, config })).toMatchObject({ type: 'created' });
      const sp = await h.request({
        type: 'spawn',
        sandbox: name,
        process: `loop-${i}`,
        argv: ['true'],
        ...spawnDefaults,
      });
      expect(sp.type).toBe('spawned');
      await h.exitOf(`loop-${i}`);
      expect(await h.request({ type: 'destroy', sandbox: name })).toMatchObject({ type: 'destroyed' });
    };
    await cycle(0);
    const before = fds();
    for (let i = 1; i <= 40; i++) await cycle(i);
    expect(fds()).toBe(before);
  });

  it('exits when the channel closes and takes every sandbox with it', async () => {
    const own = await Helper.start(mode, helperPath);
    const created = await own.request({ type: 'create', sandbox: 'sb-orphan', config });
    expect(created.type).toBe('created');
    const spawned = await own.request({
      type: 'spawn',
      sandbox: 'sb-orphan',
      process: 'p-orphan',
      argv: ['sleep', '1000'],
      ...spawnDefaults,
    });
    expect(spawned.type).toBe('spawned');
    expect(await own.close()).toEqual({ code: 0, signal: null });
    expect(await waitUntil(() => !isAlive(created.pid) && !isAlive(spawned.pid), 5000)).toBe(true);
    expect(own.protocolProblems).toEqual([]);
  });

  it('sent only lines that spec/protocol.json describes', () => {
    expect(h.messages.length).toBeGreaterThan(50);
    expect(h.protocolProblems).toEqual([]);
  });
});

describe('sandkit-helper framing', () => {
  it('exits with status 2 on a line that is not JSON', async () => {
    // A raw socket as the channel, so the test can write what child.send never would.
    const child = spawn(builtHelper, [], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_CHANNEL_FD: '3' },
    });
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    const channel = child.stdio[3] as Socket;
    let out = '';
    channel.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitUntil(() => out.includes('"hello"'), 5000, 10);
    channel.write('this is not json\n');
    expect(await exited).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('not JSON');
  });

  it('prints its features and version on the command line', () => {
    const features = JSON.parse(spawnSync(builtHelper, ['--features'], { encoding: 'utf8' }).stdout);
    expect(features).toMatchObject({ version: 1, userns: expect.any(Boolean), pidfd: expect.any(Boolean) });
    expect(spawnSync(builtHelper, ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^sandkit-helper /);
  });
});

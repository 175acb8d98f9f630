import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { describe, expect, type TestContext } from 'vitest';
import {
  Sandbox,
  SandboxNameInUseError,
  SandboxNotFoundError,
  SandboxOptionsError,
  type SandboxInfo,
} from '../../src/index.js';
import { dist, repoRoot } from '../helpers/dist.js';
import { isAlive, sandboxProcessesUsing, sessionOf, stateRoot, waitUntil } from '../helpers/host.js';
import { sweepStaleSessions } from '../../src/platform/session.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { socketAddress } from '../../src/sandbox/control-protocol.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';
import { runCli } from '../helpers/cli.js';

const OWNER = join(repoRoot, 'test', 'fixtures', 'control-owner.mjs');

interface Owner {
  child: ChildProcess;
  id: string;
  pid: number;
  lines: string[];
  exited: Promise<number | null>;
}

/** Starts a Node process that owns a sandbox made with `options` and stays up; resolves once it runs. */
async function startOwner(
  options: Record<string, unknown>,
  as?: { uid: number; home: string; stateDir: string },
  stateDir?: string
): Promise<Owner> {
  const args = [OWNER, dist.index, JSON.stringify(options)];
  const child = as
    ? spawn('setpriv', [`--reuid=${as.uid}`, `--regid=${as.uid}`, '--clear-groups', '--', process.execPath, ...args], {
        env: { ...process.env, HOME: as.home, TMPDIR: as.home, SANDKIT_STATE_DIR: as.stateDir },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, args, {
        env: { ...process.env, ...(stateDir && { SANDKIT_STATE_DIR: stateDir }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    rl.on('line', (l) => {
      lines.push(l);
      if (lines.length === 1) resolve(l);
    });
    exited.then(
      (code) => reject(new Error(`the owner exited (${code}) before its sandbox ran`)),
      () => {}
    );
  });
  const { id, pid } = JSON.parse(first) as { id: string; pid: number };
  return { child, id, pid, lines, exited };
}

const tag = () => randomBytes(4).toString('hex');

/** Ends an owner the clean way (its sandbox destroyed through the socket), kill -9 only if that fails. */
async function stopOwner(owner: Owner, stateDir?: string): Promise<void> {
  if (owner.child.exitCode !== null || owner.child.signalCode !== null) return;
  try {
    const sb = await Sandbox.connect(owner.id, { stateDir });
    await sb.stop();
    sb.close();
    await Promise.race([owner.exited, new Promise((r) => setTimeout(r, 10_000))]);
  } catch {
    // unreachable: kill it
  } finally {
    owner.child.kill('SIGKILL');
    await owner.exited;
  }
}

describe('sandboxes reached from another process', () => {
  it('lists, connects, runs, uses files, reads stats and logs, and stops across processes', async () => {
    const job = tag();
    const name = `owner-${job}`;
    const owner = await startOwner({ name, labels: { job, role: 'judge' }, keepLogs: true });
    try {
      const listed = await Sandbox.list({ labels: { job } });
      expect(listed.map((s) => s.id)).toEqual([owner.id]);
      const info = listed[0]!;
      expect(info).toMatchObject({ name, labels: { job, role: 'judge' }, ownerPid: owner.pid, state: 'running' });
      expect(info.pid).toBeGreaterThan(0);
      expect(Date.parse(info.createdAt)).toBeLessThanOrEqual(Date.now());
      expect(await Sandbox.list({ labels: { job, role: 'other' } })).toEqual([]);

      // The name is the owner's for as long as its sandbox lives, for every process.
      expect(() => new Sandbox({ name })).toThrow(SandboxNameInUseError);

      const sb = await Sandbox.connect(name);
      try {
        expect(sb.id).toBe(owner.id);
        const r = await sb.run(['sh', '-c', 'echo out; echo err >&2; tr a-z A-Z; exit 7'], { input: 'stdin text' });
        expect(r).toMatchObject({ exitCode: 7, stdout: 'out\nSTDIN TEXT', stderr: 'err\n', status: 'nonzero-exit' });
        expect(r.pid).toBeGreaterThan(0);

        // A program's output streams back while it runs, and a kill reaches it.
        const proc = sb.spawn(['sh', '-c', 'echo started; exec sleep 60']);
        const firstLine = await new Promise<string>((res) => proc.stdout.once('data', (d: Buffer) => res(String(d))));
        expect(firstLine).toBe('started\n');
        proc.kill('SIGKILL');
        expect((await proc).signal).toBe('SIGKILL');

        await sb.files.write('/tmp/remote.txt', 'written from another process\n');
        expect(await sb.files.readText('/tmp/remote.txt')).toBe('written from another process\n');
        expect((await sb.files.list('/tmp')).map((e) => e.name)).toContain('remote.txt');
        expect((await sb.files.stat('/tmp/remote.txt')).size).toBe(29);
        await expect(sb.files.read('/nonexistent')).rejects.toMatchObject({ code: 'ERR_SANDBOX_FILES' });

        const stats = await sb.stats();
        expect(stats).toHaveProperty('memory.peak');
        expect(stats).toHaveProperty('cpu.user');
        const logs = (await sb.logs()).map((c) => `${c.fd}:${c.data.toString()}`).join('');
        expect(logs).toContain('1:out\n');
        expect(logs).toContain('2:err\n');
        expect(logs).toContain('1:started\n');

        // The CLI sees and drives the same sandbox.
        const ps = await runCli(['ps', '--json', '--label', `job=${job}`]);
        expect(ps.status).toBe(0);
        expect((JSON.parse(ps.stdout) as SandboxInfo[]).map((s) => s.id)).toEqual([owner.id]);
        const table = await runCli(['ps', '--label', `job=${job}`]);
        expect(table.stdout).toMatch(new RegExp(`^ID\\s+NAME\\s+STATE`));
        expect(table.stdout).toContain(name);
        const exec = await runCli(['exec', name, '--', 'sh', '-c', 'echo via cli; exit 3']);
        expect(exec).toMatchObject({ status: 3, stdout: 'via cli\n' });
        const missing = await runCli(['exec', name, '--', '/no/such/program']);
        expect(missing.status).toBe(127);
        const inspect = await runCli(['inspect', owner.id]);
        expect(inspect.status).toBe(0);
        expect(JSON.parse(inspect.stdout)[0]).toMatchObject({ id: owner.id, name, stats: { memory: {} } });
        const logsCli = await runCli(['logs', name]);
        expect(logsCli.stdout).toContain('via cli\n');

        const stop = await runCli(['stop', name]);
        expect(stop).toMatchObject({ status: 0, stdout: `${name}\n` });
        expect(await owner.exited).toBe(0);
        expect(owner.lines).toContain('destroyed');
        expect(await Sandbox.list({ labels: { job } })).toEqual([]);
        await expect(Sandbox.connect(name)).rejects.toBeInstanceOf(SandboxNotFoundError);
        await expect(sb.stats()).rejects.toBeInstanceOf(SandboxNotFoundError);
      } finally {
        sb.close();
      }
    } finally {
      await stopOwner(owner);
    }
  }, 60_000);

  it('a terminal reaches a program of another process: isatty, its size, a resize and sandkit exec -t', async () => {
    const owner = await startOwner({ name: `tty-${tag()}` });
    try {
      const sb = await Sandbox.connect(owner.id);
      try {
        const collect = (proc: { stdout: NodeJS.ReadableStream }) => {
          let out = '';
          proc.stdout.on('data', (d: Buffer) => (out += String(d)));
          return () => out;
        };
        const sized = sb.spawn(['sh', '-c', 'test -t 0 && test -t 1 && test -t 2 && stty size'], {
          tty: { cols: 100, rows: 30 },
        });
        const sizedOut = collect(sized);
        expect((await sized).exitCode).toBe(0);
        expect(sizedOut()).toContain('30 100');

        // The program waits for a line, then prints its terminal's size: the resize came first.
        const resized = sb.spawn(['sh', '-c', 'read x; stty size'], { tty: { cols: 80, rows: 24 }, stdin: true });
        const resizedOut = collect(resized);
        resized.resize(132, 43);
        await new Promise((r) => setTimeout(r, 300));
        resized.stdin.write('go\n');
        expect((await resized).exitCode).toBe(0);
        expect(resizedOut()).toContain('43 132');
      } finally {
        sb.close();
      }
      // Without a host terminal, sandkit exec -t still gives the program one (80 x 24).
      const cli = await runCli(['exec', '-t', owner.id, '--', 'sh', '-c', 'test -t 1 && stty size']);
      expect(cli.status).toBe(0);
      expect(cli.stdout).toContain('24 80');
      const plain = await runCli(['exec', owner.id, '--', 'sh', '-c', 'test -t 1']);
      expect(plain.status).toBe(1);
    } finally {
      await stopOwner(owner);
    }
  }, 60_000);

  it('a dead owner (kill -9) drops out of the list and its socket is removed', async () => {
    // A state directory of its own: the dead owner's session stays until the next start sweeps it.
    const stateDir = mkdtempSync(join(stateRoot(), 'control-crash-'));
    try {
      const job = tag();
      const owner = await startOwner({ labels: { job } }, undefined, stateDir);
      expect((await Sandbox.list({ labels: { job }, stateDir })).map((s) => s.id)).toEqual([owner.id]);
      const sessions = join(stateDir, 'sessions');
      const session = sessionOf(stateDir, owner.pid);
      const socket = join(sessions, session, 'control.sock');
      expect(existsSync(socket)).toBe(true);
      owner.child.kill('SIGKILL');
      await owner.exited;
      expect(await waitUntil(() => !isAlive(owner.pid), 5000)).toBe(true);
      expect(await Sandbox.list({ labels: { job }, stateDir })).toEqual([]);
      expect(existsSync(socket)).toBe(false);
      const ps = await runCli(['ps', '--all', '--json'], { env: { SANDKIT_STATE_DIR: stateDir } });
      expect(JSON.parse(ps.stdout)).toEqual([]);
      // Its processes die with it (the helper's PDEATHSIG); what is left is swept.
      expect(await waitUntil(() => sandboxProcessesUsing(stateDir).length === 0, 5000)).toBe(true);
      sweepStaleSessions(stateDir);
    } finally {
      removeTreeSync(stateDir);
    }
  }, 60_000);

  it('a sandbox of this process is listed and reachable too; names and labels are checked', async ({ sandbox }) => {
    const job = tag();
    const sb = sandbox({ name: `local-${job}`, labels: { job } });
    await sb.start();
    const remote = await Sandbox.connect(`local-${job}`);
    try {
      expect((await remote.run(['echo', 'self'])).stdout).toBe('self\n');
      expect((await remote.info()).state).toBe('running');
    } finally {
      remote.close();
    }
    await sb.destroy();
    // The name is free again once its sandbox is destroyed.
    const again = sandbox({ name: `local-${job}` });
    expect(again.info().name).toBe(`local-${job}`);

    for (const [options, field] of [
      [{ name: '' }, 'name'],
      [{ name: '-dash' }, 'name'],
      [{ name: 'a/b' }, 'name'],
      [{ name: 'x'.repeat(64) }, 'name'],
      [{ name: 'sb-0123456789ab' }, 'name'],
      [{ labels: 'k=v' }, 'labels'],
      [{ labels: { 'bad key': 'v' } }, 'labels.bad key'],
      [{ labels: { k: 5 } }, 'labels.k'],
      [{ labels: { k: 'v'.repeat(1025) } }, 'labels.k'],
      [{ labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, 'labels'],
      [{ keepLogs: '1T' }, 'keepLogs'],
    ] as const) {
      let err: unknown;
      try {
        new Sandbox(options as never);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(options).slice(0, 60)).toBeInstanceOf(SandboxOptionsError);
      expect((err as SandboxOptionsError).field).toBe(field);
    }
    await expect(Sandbox.connect('no-such-sandbox')).rejects.toBeInstanceOf(SandboxNotFoundError);
    // The CLI: one line naming what was wrong, exit 2; a sandbox that is not there, one line, 125.
    const bogus = await runCli(['ps', '--bogus']);
    expect(bogus).toMatchObject({ status: 2, stdout: '' });
    expect(bogus.stderr.trim().split('\n')).toEqual(['sandkit: unknown option --bogus for ps (see sandkit ps --help)']);
    const noCommand = await runCli(['exec', `local-${job}`]);
    expect(noCommand.status).toBe(2);
    expect(noCommand.stderr).toMatch(
      /^sandkit exec: expected a command after the sandbox .* \(see sandkit exec --help\)\n$/
    );
    const gone = await runCli(['exec', 'no-such-sandbox', '--', 'true']);
    expect(gone.status).toBe(125);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
    expect(gone.stderr).toContain('no-such-sandbox: no live sandbox of this user has that id or name');
    await expect(Sandbox.list({ labels: { 'bad key': 'x' } })).rejects.toBeInstanceOf(SandboxOptionsError);
  });

  it('the control socket refuses oversized and malformed lines without harm to the owner', async ({ sandbox }) => {
    const { connect } = await import('node:net');
    const job = tag();
    const sb = sandbox({ labels: { job } });
    await sb.start();
    const session = sessionOf(stateRoot(), process.pid);
    const path = join(stateRoot(), 'sessions', session, 'control.sock');
    // Sends `payload`; resolves with what came back once the owner closes, or once `until` came.
    const talk = (payload: string | Buffer, until?: RegExp) =>
      new Promise<string>((resolve) => {
        const { address, done } = socketAddress(path); // as clients do: a deep path still fits
        const s = connect(address, done);
        let got = '';
        s.on('data', (d) => {
          got += String(d);
          if (until?.test(got)) s.destroy();
        });
        s.on('error', () => {});
        s.on('close', () => {
          done();
          resolve(got);
        });
        s.write(payload);
      });
    expect(await talk('not json\n')).toContain('not JSON');
    expect(await talk('[1,2]\n')).toContain('not a JSON object');
    expect(await talk(Buffer.alloc(5 << 20, 'a'))).toContain('longer than');
    const badOp = await talk(
      '{"id":1,"op":"rm -rf"}\n{"id":2,"op":"files","target":"x","call":"read","path":"/"}\n',
      /"id":2/
    );
    expect(badOp).toContain('unknown operation');
    expect(badOp).toContain('ERR_SANDBOX_NOT_FOUND');
    // Spawn options a client may not choose are not passed on: stdout stays a stream back.
    const spawnTry = await talk(
      `${JSON.stringify({ id: 3, op: 'spawn', target: sb.id, command: ['echo', 'x'], options: { stdout: { path: '/tmp/host-file' } } })}\n`,
      /"event":"exit"/
    );
    expect(spawnTry).toContain('"event":"stdout"');
    expect(existsSync('/tmp/host-file')).toBe(false);
    expect((await sb.run(['echo', 'still fine'])).stdout).toBe('still fine\n');
  });
});

describe('other users', () => {
  it('cannot list or connect to a sandbox owned by root (uid 65534 tries)', async ({ task, skip, tempDir }) => {
    requireFeature({ task, skip } as unknown as TestContext, isRoot, 'running a client as a second uid needs root');
    const job = tag();
    const owner = await startOwner({ name: `rootowned-${job}`, labels: { job } });
    try {
      const sessions = join(stateRoot(), 'sessions');
      const session = sessionOf(stateRoot(), owner.pid);
      const report = await clientAs(65534, tempDir, stateRoot(), join(sessions, session, 'control.sock'), job);
      expect(report).toEqual({ listed: [], connect: 'ERR_SANDBOX_NOT_FOUND', direct: 'EACCES' });
      // The same question from the owner's own user sees it: the check above can fail.
      expect((await Sandbox.list({ labels: { job } })).map((s) => s.id)).toEqual([owner.id]);
    } finally {
      await stopOwner(owner);
    }
  }, 60_000);

  it('a rootless owner (uid 65534) is invisible to uid 65533 and visible to itself', async ({
    task,
    skip,
    tempDir,
  }) => {
    requireFeature({ task, skip } as unknown as TestContext, isRoot, 'switching between two uids needs root');
    const home = tempDir('sandkit-control-');
    chmodSync(home, 0o755);
    const ownerHome = join(home, 'owner');
    mkdirSync(ownerHome);
    chownSync(ownerHome, 65534, 65534);
    const stateDir = join(ownerHome, 'sandkit');
    const job = tag();
    const owner = await startOwner(
      { name: `nobody-${job}`, labels: { job } },
      { uid: 65534, home: ownerHome, stateDir }
    );
    try {
      const session = sessionOf(stateDir, owner.pid);
      const socket = join(stateDir, 'sessions', session, 'control.sock');
      // Even with the owner's home open to all, its state is not.
      chmodSync(ownerHome, 0o755);
      const other = await clientAs(65533, tempDir, stateDir, socket, job);
      expect(other).toEqual({ listed: [], connect: 'ERR_SANDBOX_NOT_FOUND', direct: 'EACCES' });
      const self = await clientAs(65534, tempDir, stateDir, socket, job);
      expect(self).toEqual({ listed: [owner.id], connect: 'ok', direct: 'connected' });
    } finally {
      await stopOwner(owner, stateDir);
    }
  }, 60_000);
});

/** Runs a small client as `uid` that lists, connects and dials the socket directly; returns what it saw. */
async function clientAs(
  uid: number,
  tempDir: (prefix?: string) => string,
  stateDir: string,
  socket: string,
  job: string
): Promise<{ listed: string[]; connect: string; direct: string }> {
  const dir = tempDir('sandkit-client-');
  chmodSync(dir, 0o777);
  const script = join(dir, 'client.mjs');
  writeFileSync(
    script,
    `import { Sandbox } from ${JSON.stringify(dist.index)};
import { connect } from 'node:net';
const listed = (await Sandbox.list({ labels: { job: ${JSON.stringify(job)} } })).map((s) => s.id);
let result = 'ok';
try { (await Sandbox.connect(listed[0] ?? 'rootowned-${job}')).close(); } catch (e) { result = e.code ?? String(e); }
const direct = await new Promise((r) => { const s = connect(${JSON.stringify(socket)}); s.on('connect', () => { s.destroy(); r('connected'); }); s.on('error', (e) => r(e.code)); });
console.log(JSON.stringify({ listed, connect: result, direct }));
`
  );
  chmodSync(script, 0o644);
  const child = spawn(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', process.execPath, script],
    {
      env: { ...process.env, HOME: dir, TMPDIR: dir, SANDKIT_STATE_DIR: stateDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    }
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  await new Promise((r) => child.once('exit', r));
  return JSON.parse(out.trim().split('\n').pop()!) as { listed: string[]; connect: string; direct: string };
}

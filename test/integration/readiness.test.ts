import { describe, expect } from 'vitest';
import {
  SandboxAbortedError,
  SandboxDestroyedError,
  SandboxNotReadyError,
  type SandboxOptionsError,
} from '../../src/index.js';
import { it } from '../helpers/sandboxes.js';

const py = (code: string) => ['python3', '-c', code];
/** A server that binds `port` after `delayS` seconds, printing before and after. */
const lateServer = (port: number, delayS: number, kind: 'tcp' | 'udp' = 'tcp') =>
  py(
    `import socket,sys,time\nprint("starting", flush=True)\ntime.sleep(${delayS})\n` +
      `s=socket.socket(socket.AF_INET, socket.${kind === 'tcp' ? 'SOCK_STREAM' : 'SOCK_DGRAM'})\n` +
      `s.bind(("127.0.0.1", ${port}))\n${kind === 'tcp' ? 's.listen()\n' : ''}print("ready on ${port}", flush=True)\ntime.sleep(30)`
  );

describe('readiness: waitForPort and waitForLog', () => {
  it('waitForPort resolves only once the program listens, on a sandbox without any network', async ({ sandbox }) => {
    const sb = sandbox();
    const proc = sb.spawn(lateServer(5432, 0.4));
    const t0 = Date.now();
    await sb.waitForPort(5432, { timeout: 20_000 });
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(350); // not before the bind
    // The socket really listens now: a client inside connects at once.
    const probe = await sb.run(py('import socket; socket.create_connection(("127.0.0.1", 5432), 2); print("ok")'));
    expect(probe.stdout).toBe('ok\n');
    proc.kill();
  });

  it('waitForPort sees IPv6 and UDP listeners, and not a UDP socket as TCP', async ({ sandbox }) => {
    const sb = sandbox();
    sb.spawn(lateServer(5353, 0, 'udp'));
    await sb.waitForPort(5353, { protocol: 'udp', timeout: 20_000 });
    const tcp = await sb.waitForPort(5353, { timeout: 300 }).catch((e: unknown) => e);
    expect(tcp).toBeInstanceOf(SandboxNotReadyError);
    sb.spawn(
      py('import socket,time\ns=socket.socket(socket.AF_INET6)\ns.bind(("::1", 6000)); s.listen(); time.sleep(30)')
    );
    await sb.waitForPort(6000, { timeout: 20_000 });
  });

  it("a timeout rejects with SandboxNotReadyError carrying the programs' last output", async ({ sandbox }) => {
    const sb = sandbox();
    sb.spawn(['sh', '-c', 'echo "config error: port taken" >&2; sleep 30']);
    await sb.waitForLog('port taken', { stream: 'stderr', timeout: 20_000 });
    const err = await sb.waitForPort(7777, { timeout: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxNotReadyError);
    expect((err as SandboxNotReadyError).reason).toBe('timeout');
    expect((err as SandboxNotReadyError).code).toBe('ERR_SANDBOX_NOT_READY');
    expect(String(err)).toMatch(/waitForPort\(7777\/tcp\): not ready after 300 ms/);
  });

  it('the last output in the error is what the programs wrote while waiting, bounded', async ({ sandbox }) => {
    const sb = sandbox();
    sb.spawn([
      'sh',
      '-c',
      'sleep 0.2; head -c 100000 /dev/zero | tr "\\0" x; echo; echo "bind: address in use"; sleep 30',
    ]);
    const err = (await sb.waitForPort(7778, { timeout: 1500 }).catch((e: unknown) => e)) as SandboxNotReadyError;
    expect(err).toBeInstanceOf(SandboxNotReadyError);
    expect(err.lastOutput).toMatch(/bind: address in use\n$/);
    expect(err.lastOutput.length).toBeLessThanOrEqual(4096);
  });

  it('waitForLog matches a line split across writes, and returns it', async ({ sandbox }) => {
    const sb = sandbox();
    sb.spawn(['sh', '-c', 'printf "noise\\nserver rea"; sleep 0.3; printf "dy at :80\\nmore\\n"; sleep 30']);
    expect(await sb.waitForLog(/ready at :\d+/, { timeout: 20_000 })).toBe('server ready at :80');
  });

  it('waitForLog with a process watches only it, and rejects with reason exited when it ends first', async ({
    sandbox,
  }) => {
    const sb = sandbox();
    sb.spawn(['sh', '-c', 'sleep 0.2; echo ready; sleep 30']);
    const crash = sb.spawn(['sh', '-c', 'echo "fatal: no config"; exit 3']);
    const err = (await sb
      .waitForLog('ready', { process: crash, timeout: 20_000 })
      .catch((e: unknown) => e)) as SandboxNotReadyError;
    expect(err).toBeInstanceOf(SandboxNotReadyError);
    expect(err.reason).toBe('exited');
    expect(err.lastOutput).toContain('fatal: no config');
  });

  it('an abort rejects with SandboxAbortedError and a destroy with SandboxDestroyedError', async ({ sandbox }) => {
    const sb = sandbox();
    await sb.start();
    const ac = new AbortController();
    const aborted = sb.waitForPort(9, { signal: ac.signal }).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 100);
    expect(await aborted).toBeInstanceOf(SandboxAbortedError);
    expect(sb.state).toBe('running');
    const gone = sb.waitForLog('never').catch((e: unknown) => e);
    await sb.destroy();
    expect(await gone).toBeInstanceOf(SandboxDestroyedError);
    expect(await sb.waitForPort(9).catch((e: unknown) => e)).toBeInstanceOf(SandboxDestroyedError);
  });

  it('bad arguments are SandboxOptionsError naming the field', async ({ sandbox }) => {
    const sb = sandbox();
    const bad = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as SandboxOptionsError;
    expect((await bad(sb.waitForPort(0))).field).toBe('port');
    expect((await bad(sb.waitForPort(80.5))).field).toBe('port');
    expect((await bad(sb.waitForPort(80, { protocol: 'sctp' as 'tcp' }))).field).toBe('protocol');
    expect((await bad(sb.waitForPort(80, { timeout: -1 }))).field).toBe('timeout');
    expect((await bad(sb.waitForLog(42 as unknown as string))).field).toBe('pattern');
    expect((await bad(sb.waitForLog('x', { stream: 'stdin' as 'stdout' }))).field).toBe('stream');
    expect(sb.state).toBe('created'); // nothing was started for a bad call
  });
});

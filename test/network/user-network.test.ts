import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, readFileSync, readdirSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { describe, expect, type TestContext } from 'vitest';
import { USER_NETWORK_GATEWAY, type Sandbox, type SandboxOptions } from '../../src/index.js';
import type { EgressPolicy } from '../../src/network/egress.js';
import { connection } from '../../src/platform/sessions.js';
import { userNetworkMissing } from '../../src/network/user-network.js';
import { dist } from '../helpers/dist.js';
import { waitUntil } from '../helpers/host.js';
import { ip, tcpClient, testSubnet } from '../helpers/network.js';
import { isRoot, requireFeature } from '../helpers/require-feature.js';
import { it } from '../helpers/sandboxes.js';

// Every server here is on the host's loopback or in a network namespace the test makes; the
// sandbox reaches them only through pasta, which connects from the host's namespace.

const execFileAsync = promisify(execFile);
const missing = userNetworkMissing();
function needsUserNetwork(ctx: Pick<TestContext, 'task' | 'skip'>): void {
  requireFeature(ctx as TestContext, missing === undefined, missing?.message ?? '');
}

/** A TCP server on the host's 127.0.0.1 answering "host <port>". */
async function loopbackServer(): Promise<{ port: number; server: Server }> {
  const server = createServer((c) => c.end(`host ${(server.address() as { port: number }).port}\n`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** What a connection from inside to host:port prints ('' when refused, dropped or timed out). */
async function reach(sb: Sandbox, host: string, port: number): Promise<string> {
  return (await sb.run(tcpClient(host, port, 3))).stdout.trim();
}

/** Host pids of the pasta processes (and their keepers) started by this process's helper. */
function pastaOf(helperPid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const comm = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      if (!/^pas(ta|st)/.test(comm) && comm !== 'sandkit-pasta') continue;
      let pid = Number(name);
      for (let depth = 0; depth < 4 && pid > 1; depth++) {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        pid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        if (pid === helperPid) {
          found.push(Number(name));
          break;
        }
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const user = (egress: EgressPolicy | undefined, more = {}) =>
  ({ network: { mode: 'user', egress, ...more } }) as SandboxOptions;

describe('user-mode networks (pasta): egress policy, names, ports, cleanup', () => {
  it('deny by default: the host loopback (through the gateway) is unreachable; naming gateway:port reaches that port only', async ({
    sandbox,
    task,
    skip,
  }) => {
    needsUserNetwork({ task, skip });
    const a = await loopbackServer();
    const b = await loopbackServer();
    try {
      const denied = sandbox(user(undefined));
      expect((await denied.run(['cat', '/proc/net/route'])).stdout).toContain('eth0');
      expect(await reach(denied, USER_NETWORK_GATEWAY, a.port)).toBe('');
      const allowed = sandbox(user({ allow: [{ cidr: USER_NETWORK_GATEWAY, ports: [a.port], protocol: 'tcp' }] }));
      expect(await reach(allowed, USER_NETWORK_GATEWAY, a.port)).toBe(`host ${a.port}`);
      expect(await reach(allowed, USER_NETWORK_GATEWAY, b.port)).toBe('');
      // The sandbox's own 127.0.0.1 is its own loopback, never the host's.
      expect(await reach(allowed, '127.0.0.1', a.port)).toBe('');
    } finally {
      a.server.close();
      b.server.close();
    }
  });

  it("'allow' and 0.0.0.0/0 do not open the host's loopback: only the gateway named by itself does", async ({
    sandbox,
    task,
    skip,
  }) => {
    needsUserNetwork({ task, skip });
    const a = await loopbackServer();
    try {
      const policies: EgressPolicy[] = ['allow', { allow: ['0.0.0.0/0'] }, { allow: ['10.0.2.0/24'] }];
      for (const egress of policies) {
        const sb = sandbox(user(egress));
        expect(await reach(sb, USER_NETWORK_GATEWAY, a.port), JSON.stringify(egress)).toBe('');
      }
    } finally {
      a.server.close();
    }
  });

  it('/etc/hosts has the names given; resolv.conf the nameservers given, none by default', async ({
    sandbox,
    task,
    skip,
  }) => {
    needsUserNetwork({ task, skip });
    const a = await loopbackServer();
    try {
      const sb = sandbox(
        user(
          { allow: [{ cidr: USER_NETWORK_GATEWAY, ports: [a.port] }] },
          { hosts: { 'db.test': USER_NETWORK_GATEWAY }, dns: ['192.0.2.53'] }
        )
      );
      expect((await sb.run(['cat', '/etc/hosts'])).stdout).toContain(`${USER_NETWORK_GATEWAY}\tdb.test`);
      expect((await sb.run(['cat', '/etc/resolv.conf'])).stdout).toBe('nameserver 192.0.2.53\n');
      expect(await reach(sb, 'db.test', a.port)).toBe(`host ${a.port}`);
      const plain = sandbox(user(undefined));
      expect((await plain.run(['cat', '/etc/resolv.conf'])).stdout).not.toMatch(/^nameserver/m);
    } finally {
      a.server.close();
    }
  });

  it('published TCP and UDP ports reach servers bound to 0.0.0.0 inside', async ({ sandbox, task, skip }) => {
    needsUserNetwork({ task, skip });
    const sb = sandbox(
      user('deny', {
        publish: [
          { sandbox: 7600, protocol: 'tcp' },
          { sandbox: 7600, protocol: 'udp' },
        ],
      })
    );
    sb.spawn([
      'python3',
      '-c',
      `import socket,threading
u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0",7600))
def echo():
  while True:
    d,a=u.recvfrom(65536); u.sendto(b"udp:"+d, a)
threading.Thread(target=echo, daemon=True).start()
t=socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0",7600)); t.listen(16)
while True:
  c,a=t.accept(); c.sendall(b"tcp\\n"); c.close()`,
    ]);
    await sb.waitForPort(7600, { timeout: 20_000 });
    await sb.waitForPort(7600, { protocol: 'udp', timeout: 20_000 });
    const tcpPort = await sb.publishedPort(7600, 'tcp');
    const got = await fetchLine(tcpPort);
    expect(got).toBe('tcp\n');
    const udpPort = await sb.publishedPort(7600, 'udp');
    expect(await udpRoundTrip(udpPort, 'ping')).toBe('udp:ping');
  });

  it('destroy stops pasta; a kill -9 of the Node process takes pasta with it', async ({ sandbox, task, skip }) => {
    needsUserNetwork({ task, skip });
    const sb = sandbox(user(undefined));
    await sb.start();
    const helper = connection().pid!;
    expect(pastaOf(helper).length).toBeGreaterThanOrEqual(3); // keeper, its pid namespace's init, pasta
    await sb.destroy();
    await waitUntil(() => pastaOf(helper).length === 0, 5_000);
    expect(pastaOf(helper)).toEqual([]);

    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Sandbox } from ${JSON.stringify(pathToFileURL(dist.index).href)};
const sb = new Sandbox({ network: { mode: 'user' } });
await sb.start();
console.log(JSON.stringify({ ok: true }));
setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    );
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', () => resolve());
        child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
      });
      const helpers = childrenOf(child.pid!);
      const pastas = helpers.flatMap(pastaOf);
      expect(pastas.length).toBeGreaterThanOrEqual(3);
      child.kill('SIGKILL');
      await waitUntil(() => pastas.every((p) => !alive(p)), 5_000);
      expect(pastas.filter(alive)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe.runIf(isRoot)('user-mode networks: egress by CIDR and port to a test-made namespace (root)', () => {
  it('a range reaches an outside address but not the host address inside it; ports narrow it', async ({
    sandbox,
    task,
    skip,
  }) => {
    needsUserNetwork({ task, skip });
    const subnet = testSubnet(41);
    const base = subnet.replace(/\.0\/24$/, '');
    const tag = `u${process.pid % 100000}`;
    const ns = `sktest-${tag}`;
    const veth = `tsk${tag}`.slice(0, 15);
    const remove = () => {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* not there */
      }
    };
    remove();
    ip('netns', 'add', ns);
    const servers: Array<ReturnType<typeof spawn>> = [];
    try {
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('addr', 'add', `${base}.1/24`, 'dev', veth);
      ip('link', 'set', veth, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', `${base}.2/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      // Two ports in the namespace (.2), one on the host end of the veth (.1, a host address).
      const py = (addr: string, port: number) =>
        `import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("${addr}", ${port})); s.listen(16)\nwhile True:\n  c,a=s.accept(); c.sendall(b"${addr}:${port}\\n"); c.close()`;
      servers.push(spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py(`${base}.2`, 7701)], { stdio: 'ignore' }));
      servers.push(spawn('ip', ['netns', 'exec', ns, 'python3', '-c', py(`${base}.2`, 7702)], { stdio: 'ignore' }));
      servers.push(spawn('python3', ['-c', py(`${base}.1`, 7703)], { stdio: 'ignore' }));
      await waitUntil(() => listening(ns, 7701) && listening(ns, 7702) && listening(undefined, 7703), 10_000);

      const range = sandbox(user({ allow: [subnet] }));
      expect(await reach(range, `${base}.2`, 7701)).toBe(`${base}.2:7701`);
      expect(await reach(range, `${base}.2`, 7702)).toBe(`${base}.2:7702`);
      expect(await reach(range, `${base}.1`, 7703)).toBe(''); // the host's own address, inside the range

      const port = sandbox(user({ allow: [{ cidr: subnet, ports: [7701], protocol: 'tcp' }, `${base}.1`] }));
      expect(await reach(port, `${base}.2`, 7701)).toBe(`${base}.2:7701`);
      expect(await reach(port, `${base}.2`, 7702)).toBe('');
      expect(await reach(port, `${base}.1`, 7703)).toBe(`${base}.1:7703`); // named by itself

      const denied = sandbox(user('deny'));
      expect(await reach(denied, `${base}.2`, 7701)).toBe('');
    } finally {
      for (const s of servers) s.kill('SIGKILL');
      remove();
      try {
        ip('link', 'del', veth);
      } catch {
        /* gone with the namespace */
      }
    }
  });

  it('works rootless (uid 65534) where /dev/net/tun is usable: a private /dev/net/tun in a mount namespace of its own', async ({
    tempDir,
  }) => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    execFileSync('mknod', [join(dir, 'tun'), 'c', '10', '200']);
    chmodSync(join(dir, 'tun'), 0o666);
    const a = await loopbackServer();
    try {
      const script = `import { Sandbox } from ${JSON.stringify(pathToFileURL(dist.index).href)};
const sb = new Sandbox({ network: { mode: 'user', egress: { allow: [{ cidr: '10.0.2.2', ports: [${a.port}] }] } } });
const r = await sb.run(['bash', '-c', 'exec 3<>/dev/tcp/10.0.2.2/${a.port} && cat <&3; id -u']);
console.log(JSON.stringify(r.stdout));
await sb.destroy();`;
      // Asynchronously: the server answering is in this very process.
      const { stdout: out } = await execFileAsync(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          `mount --bind "$0/tun" /dev/net/tun && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- env HOME="$0" SANDKIT_STATE_DIR="$0/sandkit" TMPDIR="$0" "$1" --input-type=module -e "$2"`,
          dir,
          process.execPath,
          script,
        ],
        { encoding: 'utf8', timeout: 60_000 }
      );
      expect(JSON.parse(out.trim().split('\n').pop()!)).toBe(`host ${a.port}\n0\n`);
    } finally {
      a.server.close();
    }
  });
});

function listening(ns: string | undefined, port: number): boolean {
  const args = ['-ltnH', `sport = :${port}`];
  const out = ns
    ? execFileSync('ip', ['netns', 'exec', ns, 'ss', ...args], { encoding: 'utf8' })
    : execFileSync('ss', args, { encoding: 'utf8' });
  return out.trim() !== '';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function fetchLine(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const s = connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

function udpRoundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createSocket('udp4');
    const timer = setTimeout(() => {
      c.close();
      reject(new Error('no UDP answer'));
    }, 5000);
    c.on('message', (m) => {
      clearTimeout(timer);
      c.close();
      resolve(m.toString());
    });
    c.send(text, port, '127.0.0.1');
  });
}

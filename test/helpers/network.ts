import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

// Test-only network plumbing: subnets and namespaces the tests make themselves. Nothing here
// touches eth0, the host's routes or any firewall table but sandkit's own.

/**
 * A private /24 per test (`index`) and test process, so parallel test files — and other test
 * runs on the same host — are unlikely to share a subnet (Network.create refuses an overlap).
 */
export function testSubnet(index: number): string {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 1);
  return `10.${200 + (index % 50)}.${(process.pid * 7 + worker) % 250}.0/24`;
}

/** `ip` with arguments; throws with stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Names of the host's network interfaces. */
export function hostLinks(): string[] {
  return readdirSync('/sys/class/net');
}

/** sandkit's interfaces on the host: veths `sk…` and bridges `skbr…`. */
export function sandkitLinks(): string[] {
  return hostLinks().filter((n) => n.startsWith('sk'));
}

/** sandkit's nftables tables (`sandkit_…`), as "family name". */
export function sandkitTables(): string[] {
  const out = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(' sandkit_'))
    .map((l) => l.replace(/^table /, '').trim());
}

/**
 * An "outside" host for egress tests: a network namespace made by the test, with a veth whose
 * host end is a port of the sandkit network's bridge and an address in a second private subnet
 * (`outside`/24: .1 is added to the bridge as its gateway, .2 is the namespace). Sandboxes reach
 * it only by being routed (and masqueraded) through the host, like any destination off their
 * subnet. Returns its address and a cleanup function.
 */
export function makeOutsideHost(
  bridge: string,
  outside: string,
  tag: string
): { address: string; exec: (args: string[]) => string; remove: () => void } {
  const base = outside.replace(/\.0\/24$/, '');
  const ns = `sktest-${tag}`;
  const veth = `tsk${tag}`.slice(0, 15); // not sk…: that prefix is sandkit's own
  const remove = () => {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* gone */
    }
    try {
      ip('link', 'del', veth);
    } catch {
      /* gone with the namespace */
    }
    try {
      ip('addr', 'del', `${base}.1/24`, 'dev', bridge);
    } catch {
      /* gone with the bridge */
    }
  };
  remove();
  ip('netns', 'add', ns);
  ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('link', 'set', veth, 'master', bridge, 'up');
  ip('addr', 'add', `${base}.1/24`, 'dev', bridge);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'addr', 'add', `${base}.2/24`, 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'route', 'add', 'default', 'via', `${base}.1`);
  const exec = (args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  return { address: `${base}.2`, exec, remove };
}

/** A perl one-liner TCP server: answers every connection with "hello <peer address>\n". */
export function helloServer(port: number): string[] {
  return [
    'perl',
    '-MIO::Socket::INET',
    '-e',
    `$|=1; my $s=IO::Socket::INET->new(Listen=>16,LocalPort=>${port},ReuseAddr=>1) or die "listen: $!"; print "listening\\n"; while (my $c=$s->accept) { print $c "hello ".$c->peerhost."\\n"; close $c }`,
  ];
}

/** A bash one-liner TCP client: prints what `host:port` says (a name is resolved via /etc/hosts). */
export function tcpClient(host: string, port: number, timeoutS = 3): string[] {
  return ['timeout', String(timeoutS), 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port} && cat <&3`];
}

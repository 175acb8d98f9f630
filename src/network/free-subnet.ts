import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SandboxSetupError, SandboxUnsupportedError } from '../errors/sandbox-error.js';
import { OWNED_COMMAND_MISSING, ownedCommand } from '../platform/owned-command.js';
import { formatIpv4, overlaps, parseCidr, type Subnet } from './subnet.js';

/**
 * Where `Network.create()` without a subnet looks: the /24s of 10.89.0.0/16 to 10.95.0.0/16
 * (1,792 of them), away from Docker's 172.17/16 and 192.168/16 defaults and from the
 * 10.0/16-ish ranges cloud VPCs hand out first.
 */
const POOL_FIRST = parseCidr('10.89.0.0/16', 'pool').base;
const POOL_SIZE = 7 * 256;

/** Bytes of `ip -j` output read at most: a host with thousands of routes still fits. */
const IP_OUTPUT_MAX = 16 * 1024 * 1024;

/** The first /24 of the pool that overlaps none of `taken`, or undefined when all do. */
export function firstFreeSubnet(taken: readonly Subnet[]): Subnet | undefined {
  for (let i = 0; i < POOL_SIZE; i++) {
    const candidate = parseCidr(`${formatIpv4(POOL_FIRST + i * 256)}/24`, 'subnet');
    if (!taken.some((t) => overlaps(candidate, t))) return candidate;
  }
  return undefined;
}

/**
 * IPv4 ranges the host already uses: every interface address and every route of every
 * routing table (a VPN's or another bridge's), except default routes, which cover everything.
 */
export async function hostIpv4Ranges(): Promise<Subnet[]> {
  const addrs = JSON.parse(await ipJson(['-j', '-4', 'addr', 'show'])) as Array<{
    addr_info?: Array<{ local?: string; prefixlen?: number }>;
  }>;
  const routes = JSON.parse(await ipJson(['-j', '-4', 'route', 'show', 'table', 'all'])) as Array<{
    dst?: string;
    type?: string;
  }>;
  const out: Subnet[] = [];
  const add = (cidr: string) => {
    try {
      out.push(parseCidr(cidr, 'route'));
    } catch {
      // not an IPv4 range (a route type ip prints by name): nothing to avoid
    }
  };
  for (const link of addrs) for (const a of link.addr_info ?? []) if (a.local) add(`${a.local}/${a.prefixlen ?? 32}`);
  for (const r of routes) if (r.dst && r.dst !== 'default' && r.type !== 'broadcast') add(r.dst);
  return out;
}

/** The output of `ip <args>` (JSON with `-j`), read up to IP_OUTPUT_MAX bytes. */
export async function ipJson(args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(...ownedCommand('ip', args), {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      maxBuffer: IP_OUTPUT_MAX,
    });
    return stdout;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === OWNED_COMMAND_MISSING)
      throw new SandboxUnsupportedError(['ip'], 'install iproute2 (the ip command)');
    throw bridgeError(`ip ${args.join(' ')}: ${(err as Error).message}`);
  }
}

/** A failure to set up a network's bridge (step `net.bridge`), with what went wrong. */
export function bridgeError(detail: string): SandboxSetupError {
  return new SandboxSetupError('Network.create', {
    step: 'net.bridge',
    syscall: null,
    errno: null,
    errnoCode: null,
    path: null,
    detail,
  });
}

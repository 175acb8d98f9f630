import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import {
  SandboxDestroyedError,
  SandboxOptionsError,
  SandboxSetupError,
  SandboxUnsupportedError,
} from '../errors/sandbox-error.js';
import { sessionFor } from '../platform/sessions.js';
import { checkStateDir, defaultStateDir } from '../platform/state-dir.js';
import {
  allocateAddress,
  pruneDead,
  readRecord,
  writeRecord,
  type Lease,
  type NetworkRecord,
} from './address-allocator.js';
import { withLock } from '../platform/file-lock.js';
import { writeAllHosts } from './hosts-file.js';
import { runTool, runToolQuietly } from './host-tools.js';
import { deleteSandboxRulesScript, deleteTablesScript, networkTablesScript } from './nft.js';
import { formatIpv4, isPrivate, overlaps, parseCidr, type Subnet } from './subnet.js';
import { bridgeError, firstFreeSubnet, hostIpv4Ranges, ipJson } from './free-subnet.js';

/** Options of {@link Network.create}. */
export interface NetworkOptions {
  /**
   * A private IPv4 range for the network, /8 to /30, e.g. `10.88.0.0/24`. Its first host
   * address is the gateway (the bridge). @defaultValue the network of that `name` if one
   * exists, else the first /24 of 10.89.0.0–10.95.255.0 that overlaps no address or route
   * of the host and no other network (chosen under a host-wide lock, so concurrent
   * processes get distinct ones)
   */
  subnet?: string;
  /**
   * Name of the network. Node processes that create a network of the same name (and state
   * directory) share it: one bridge, one address space. @defaultValue derived from the subnet
   */
  name?: string;
  /** Where the network's state (lock, leases, hosts files) lives. @defaultValue see `defaultStateDir()` */
  stateDir?: string;
  /** MTU of the sandboxes' interfaces. @defaultValue the kernel's default (1500) */
  mtu?: number;
  /**
   * Keep the network after every process using it is gone, until {@link Network.remove}
   * (what `sandkit network create` makes). @defaultValue false: it goes with its last user
   */
  persistent?: boolean;
}

/** A network as {@link Network.list} reports it. */
export interface NetworkInfo {
  /** The network's name. */
  name: string;
  /** Its subnet, in CIDR form. */
  subnet: string;
  /** The host's address on it (the sandboxes' default route). */
  gateway: string;
  /** The host's bridge device. */
  bridge: string;
  /** Made with `persistent: true`. */
  persistent: boolean;
  /** Sandboxes attached now. */
  sandboxes: number;
  /** Live processes that opened it. */
  users: number;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
/** Host-wide (bridges are): serialises choosing a free subnet across processes and state roots. */
const SUBNET_LOCK_DIR = '/run/sandkit';
const OPTION_KEYS = ['subnet', 'name', 'stateDir', 'mtu', 'persistent'];

/**
 * A network for sandboxes: a Linux bridge on the host, with the gateway address of `subnet`,
 * and nftables tables for NAT and egress policy. Sandboxes attach to it with
 * `network: { attach: net }`; each gets a veth pair and an address of its own, and finds the
 * other named sandboxes of the network in its /etc/hosts. Needs root.
 *
 * @example
 * await using net = await Network.create({ subnet: '10.88.0.0/24' });
 * const db = new Sandbox({ network: { attach: net, hostname: 'db', publish: [{ sandbox: 6379 }] } });
 * const app = new Sandbox({ network: { attach: net, egress: { allow: ['10.88.0.0/24'] } } });
 *
 * @throws {SandboxUnsupportedError} when not running as root, or nft / ip is missing.
 * @throws {SandboxSetupError} with step `net.bridge` when the bridge or its tables cannot be made
 * (for instance, the subnet overlaps an address the host already has).
 */
export class Network implements AsyncDisposable {
  /** Name of the network (its state directory under `<stateDir>/networks/`). */
  readonly name: string;
  /** The network's CIDR, canonical (`10.88.0.0/24`). */
  readonly subnet: string;
  /** Gateway address: the bridge's address on the host. */
  readonly gateway: string;
  /** Prefix length of the subnet. */
  readonly prefixLength: number;
  /** Name of the bridge on the host (`skbr…`). */
  readonly bridge: string;
  /** Name of its nftables tables (families inet and bridge). */
  readonly table: string;
  /** MTU of sandbox interfaces (0: the default). */
  readonly mtu: number;
  /** @internal */
  readonly dir: string;
  private readonly session: string;
  private destroying: Promise<void> | undefined;

  private constructor(o: {
    name: string;
    subnet: Subnet;
    bridge: string;
    table: string;
    dir: string;
    session: string;
    mtu: number;
  }) {
    this.name = o.name;
    this.subnet = o.subnet.cidr;
    this.gateway = formatIpv4(o.subnet.base + 1);
    this.prefixLength = o.subnet.prefixLength;
    this.bridge = o.bridge;
    this.table = o.table;
    this.dir = o.dir;
    this.session = o.session;
    this.mtu = o.mtu;
  }

  /** Creates the network, or joins the one of the same name another process already made. */
  static async create(options: NetworkOptions = {}): Promise<Network> {
    if (typeof options !== 'object' || options === null)
      throw new SandboxOptionsError('options', 'expected { subnet?, name?, stateDir?, mtu? }');
    for (const key of Object.keys(options))
      if (!OPTION_KEYS.includes(key)) throw new SandboxOptionsError(key, 'unknown network option');
    if (options.stateDir !== undefined) {
      if (typeof options.stateDir !== 'string' || !isAbsolute(options.stateDir))
        throw new SandboxOptionsError('stateDir', `expected an absolute path, got ${JSON.stringify(options.stateDir)}`);
      checkStateDir(options.stateDir, 'stateDir');
    }
    if (options.subnet === undefined) {
      requireRoot();
      return createOnFreeSubnet(options);
    }
    const subnet = parseCidr(options.subnet, 'subnet');
    if (subnet.prefixLength < 8 || subnet.prefixLength > 30)
      throw new SandboxOptionsError('subnet', 'expected a prefix length from 8 to 30');
    if (!isPrivate(subnet))
      throw new SandboxOptionsError(
        'subnet',
        `${subnet.cidr} is not a private range (10/8, 172.16/12, 192.168/16, 100.64/10)`
      );
    const name = options.name ?? `net-${subnet.cidr.replace(/[./]/g, '-')}`;
    if (typeof name !== 'string' || !NAME.test(name))
      throw new SandboxOptionsError('name', 'expected 1-64 letters, digits, ".", "_" or "-"');
    if (options.persistent !== undefined && typeof options.persistent !== 'boolean')
      throw new SandboxOptionsError('persistent', 'expected a boolean');
    const mtu = options.mtu ?? 0;
    if (!Number.isInteger(mtu) || (mtu !== 0 && (mtu < 576 || mtu > 65535)))
      throw new SandboxOptionsError('mtu', 'expected an integer from 576 to 65535');
    requireRoot();
    const root = options.stateDir ?? defaultStateDir();
    const session = sessionFor(root).id;
    await sweepStaleNetworks(root);
    const hash = createHash('sha256').update(`${root}\0${name}`).digest('hex').slice(0, 10);
    const dir = join(root, 'networks', name);
    const net = new Network({ name, subnet, bridge: `skbr${hash}`, table: `sandkit_${hash}`, dir, session, mtu });
    await withLock(
      dir,
      async () => {
        mkdirSync(join(dir, 'hosts'), { recursive: true, mode: 0o700 });
        const rec = readRecord(dir);
        if (rec) {
          for (const l of pruneDead(rec)) await removeLease(rec, l);
          if (rec.subnet !== net.subnet)
            throw new SandboxOptionsError('subnet', `network "${name}" exists with subnet ${rec.subnet}`);
          rec.users.push(session);
          if (options.persistent) rec.persistent = true;
          writeRecord(dir, rec);
          return;
        }
        await net.makeBridge(subnet);
        writeRecord(dir, {
          name,
          subnet: net.subnet,
          bridge: net.bridge,
          table: net.table,
          gateway: net.gateway,
          users: [session],
          next: 0,
          leases: [],
          ...(options.persistent && { persistent: true }),
        });
      },
      { create: true }
    );
    return net;
  }

  /**
   * The networks under a state root, as records say (stale ones of crashed processes are
   * swept first).
   */
  static async list(options: { stateDir?: string } = {}): Promise<NetworkInfo[]> {
    const root = networkRoot(options);
    await sweepStaleNetworks(root);
    return recordedNetworks(root).map(({ rec }) => ({
      name: rec.name,
      subnet: rec.subnet,
      gateway: rec.gateway,
      bridge: rec.bridge,
      persistent: rec.persistent === true,
      sandboxes: rec.leases.length,
      users: rec.users.length,
    }));
  }

  /**
   * Removes a network by name: its bridge, tables and state at once when no live process uses
   * it, else when the last one destroys it (a persistent network stops being persistent).
   * Resolves false when there is none.
   * @throws {SandboxOptionsError} when sandboxes are still attached (as Docker refuses to remove a network with active endpoints).
   */
  static async remove(name: string, options: { stateDir?: string } = {}): Promise<boolean> {
    if (typeof name !== 'string' || !NAME.test(name))
      throw new SandboxOptionsError('name', 'expected 1-64 letters, digits, ".", "_" or "-"');
    const dir = join(networkRoot(options), 'networks', name);
    const found = await withLock(dir, async () => {
      const rec = readRecord(dir);
      if (!rec) return false;
      for (const l of pruneDead(rec)) await removeLease(rec, l);
      if (rec.leases.length > 0) {
        writeRecord(dir, rec);
        throw new SandboxOptionsError(
          'name',
          `network "${name}" has ${rec.leases.length} sandbox(es) attached; destroy them first`
        );
      }
      delete rec.persistent; // processes still using it keep it until their destroy()
      await settle(rec, dir);
      return true;
    });
    return found === true;
  }

  /**
   * Leaves the network. The bridge, its tables and state go when the last process that
   * created it has destroyed it and no sandbox is attached any more (a persistent network
   * stays until `Network.remove`). Idempotent.
   */
  destroy(): Promise<void> {
    this.destroying ??= lockedVoid(this.dir, async () => {
      const rec = readRecord(this.dir);
      if (!rec) return;
      const i = rec.users.indexOf(this.session);
      if (i >= 0) rec.users.splice(i, 1);
      await settle(rec, this.dir);
    });
    return this.destroying;
  }

  /** `await using` support: removes the network. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /** @internal A lease for a new sandbox, its hosts file made and every peer's rewritten. */
  async join(sandbox: string, hostname: string, listed: boolean): Promise<Lease> {
    if (this.destroying) throw new SandboxDestroyedError(`attach to network ${this.name}`);
    const lease = await withLock(this.dir, async () => {
      const rec = readRecord(this.dir);
      if (!rec) return undefined;
      for (const l of pruneDead(rec)) await removeLease(rec, l);
      if (listed && rec.leases.some((l) => l.listed && l.hostname === hostname)) {
        writeRecord(this.dir, rec);
        throw new SandboxOptionsError('network.hostname', `"${hostname}" is already used on network ${this.name}`);
      }
      const ip = allocateAddress(rec, parseCidr(rec.subnet, 'subnet'));
      if (!ip) {
        writeRecord(this.dir, rec);
        throw new SandboxSetupError('start', {
          step: 'net.address',
          syscall: null,
          errno: null,
          errnoCode: null,
          path: null,
          detail: `no free address in ${rec.subnet}`,
        });
      }
      const veth = `sk${createHash('sha256').update(`${this.session}\0${sandbox}`).digest('hex').slice(0, 12)}`;
      const hostsFile = join(this.dir, 'hosts', sandbox);
      closeSync(openSync(hostsFile, 'w', 0o644));
      const lease: Lease = { ip, sandbox, session: this.session, hostname, listed, veth, hostsFile };
      rec.leases.push(lease);
      writeRecord(this.dir, rec);
      writeAllHosts(rec.leases);
      return lease;
    });
    if (!lease) throw new SandboxDestroyedError(`attach to network ${this.name}`);
    return lease;
  }

  /** @internal Gives a sandbox's address back and updates its peers' hosts files. */
  async leave(lease: Lease): Promise<void> {
    rmSync(lease.hostsFile, { force: true });
    await withLock(this.dir, async () => {
      const rec = readRecord(this.dir);
      if (!rec) return;
      rec.leases = rec.leases.filter((l) => l.sandbox !== lease.sandbox || l.session !== lease.session);
      writeAllHosts(rec.leases);
      await settle(rec, this.dir);
    });
  }

  private async makeBridge(subnet: Subnet): Promise<void> {
    await assertNoOverlap(subnet, this.bridge);
    await runToolQuietly('ip', ['link', 'del', this.bridge], ''); // a leftover of ours with no record
    await runToolQuietly('nft', ['-f', '-'], deleteTablesScript(this.table));
    try {
      await runTool(
        'net.bridge',
        'ip',
        ['-batch', '-'],
        [
          `link add ${this.bridge} type bridge`,
          `addr add ${this.gateway}/${subnet.prefixLength} dev ${this.bridge}`,
          `link set ${this.bridge} up`,
          '',
        ].join('\n')
      );
      // Per-bridge settings, gone with the bridge; the host's global ones are never touched.
      const conf = `/proc/sys/net/ipv4/conf/${this.bridge}`;
      writeFileSync(`${conf}/forwarding`, '1');
      writeFileSync(`${conf}/proxy_arp_pvlan`, '1'); // isolated ports reach each other via the host
      writeFileSync(`${conf}/send_redirects`, '0');
      try {
        writeFileSync(`/proc/sys/net/ipv6/conf/${this.bridge}/disable_ipv6`, '1');
      } catch {
        /* no IPv6 */
      }
      await runTool('net.bridge', 'nft', ['-f', '-'], networkTablesScript(this.table, this.bridge, this.subnet));
    } catch (err) {
      await teardown(this.bridge, this.table);
      throw err;
    }
  }
}

/**
 * `Network.create` without a subnet: joins the network of that name if it exists, else picks
 * a free /24 and makes the bridge while holding a host-wide lock, so the next process to pick
 * sees its route.
 */
/** A bridge and host nftables tables need CAP_NET_ADMIN on the host. */
function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new SandboxUnsupportedError(
      ['network bridge'],
      "Network.create needs root (CAP_NET_ADMIN on the host); rootless sandboxes can use network: 'none' or { publish }"
    );
  }
}

async function createOnFreeSubnet(options: NetworkOptions): Promise<Network> {
  const root = options.stateDir ?? defaultStateDir();
  await sweepStaleNetworks(root); // a crashed process's bridge would hold a subnet for nothing
  const chosen = await withLock(
    SUBNET_LOCK_DIR,
    async () => {
      const named =
        typeof options.name === 'string' && NAME.test(options.name)
          ? readRecord(join(root, 'networks', options.name))
          : undefined;
      if (named) return Network.create({ ...options, subnet: named.subnet });
      const subnet = firstFreeSubnet([...(await hostIpv4Ranges()), ...networkSubnets(root)]);
      if (!subnet) {
        throw bridgeError(
          'every /24 of 10.89.0.0-10.95.255.0 overlaps an address, a route or another network of this host; pass subnet'
        );
      }
      return Network.create({ ...options, subnet: subnet.cidr });
    },
    { create: true, timeoutMs: 30_000 }
  );
  return chosen!;
}

/** Subnets of the networks recorded under a state root (their bridges may be down). */
function networkSubnets(root: string): Subnet[] {
  return recordedNetworks(root).map(({ rec }) => parseCidr(rec.subnet, 'subnet'));
}

/** Every network record under a state root, by name order. */
function recordedNetworks(root: string): Array<{ dir: string; rec: NetworkRecord }> {
  const base = join(root, 'networks');
  let names: string[];
  try {
    names = readdirSync(base).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const rec = readRecord(join(base, name));
    return rec ? [{ dir: join(base, name), rec }] : [];
  });
}

function networkRoot(options: { stateDir?: string }): string {
  if (typeof options !== 'object' || options === null)
    throw new SandboxOptionsError('options', 'expected { stateDir? }');
  if (options.stateDir === undefined) return defaultStateDir();
  if (typeof options.stateDir !== 'string' || !isAbsolute(options.stateDir))
    throw new SandboxOptionsError('stateDir', `expected an absolute path, got ${JSON.stringify(options.stateDir)}`);
  return options.stateDir;
}

async function lockedVoid(dir: string, fn: () => Promise<void>): Promise<void> {
  await withLock(dir, fn);
}

/** Removes the bridge and tables once nobody uses the network; otherwise saves the record. */
async function settle(rec: NetworkRecord, dir: string): Promise<void> {
  for (const l of pruneDead(rec)) await removeLease(rec, l);
  if (rec.users.length > 0 || rec.leases.length > 0 || rec.persistent) {
    writeRecord(dir, rec);
    return;
  }
  await teardown(rec.bridge, rec.table);
  for (const name of readdirSync(dir)) if (name !== 'lock') rmSync(join(dir, name), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

/** A lease of a dead process: its rules and hosts file (its veth went with its sandbox). */
async function removeLease(rec: NetworkRecord, lease: Lease): Promise<void> {
  rmSync(lease.hostsFile, { force: true });
  await runToolQuietly('nft', ['-f', '-'], deleteSandboxRulesScript(rec.table, lease));
}

async function teardown(bridge: string, table: string): Promise<void> {
  await runToolQuietly('nft', ['-f', '-'], deleteTablesScript(table));
  await runToolQuietly('ip', ['link', 'del', bridge], '');
}

/** Refuses a subnet that overlaps an address the host already has (eth0's, another bridge's). */
async function assertNoOverlap(subnet: Subnet, ownBridge: string): Promise<void> {
  const out = await ipJson(['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(out) as Array<{ ifname: string; addr_info?: Array<{ local: string; prefixlen: number }> }>;
  for (const link of links) {
    if (link.ifname === ownBridge) continue;
    for (const a of link.addr_info ?? []) {
      if (overlaps(subnet, parseCidr(`${a.local}/${a.prefixlen}`, 'address'))) {
        throw bridgeError(`${subnet.cidr} overlaps ${a.local}/${a.prefixlen} on ${link.ifname}`);
      }
    }
  }
}

/**
 * Cleans up networks under a state root whose processes died: their sandboxes' rules and
 * hosts files, and the bridge and tables of networks nobody uses any more. Runs from every
 * `Network.create`. Returns how many networks were removed.
 */
export async function sweepStaleNetworks(root = defaultStateDir()): Promise<number> {
  const base = join(root, 'networks');
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const dir = join(base, name);
    await withLock(dir, async () => {
      const rec = readRecord(dir);
      if (!rec) return;
      await settle(rec, dir);
      if (readRecord(dir) === undefined) removed++;
    }).catch(() => {});
  }
  return removed;
}

import { SandboxOptionsError, SandboxUnsupportedError } from '../errors/sandbox-error.js';
import type { NetCreateConfig } from '../helper/protocol.js';
import type { Lease } from './address-allocator.js';
import { resolveEgress, type EgressPolicy, type ResolvedEgress } from './egress.js';
import { Network } from './network.js';
import { deleteSandboxRulesScript, sandboxRulesScript } from './nft.js';
import {
  PortProxy,
  hostPortOf,
  openProxies,
  resolvePortMappings,
  type PortMapping,
  type ResolvedPortMapping,
} from './port-proxy.js';
import { parseIpv4 } from './subnet.js';
import { resolveUserNetwork, type ResolvedUserNetwork } from './user-network.js';

/**
 * `network: { attach: net, ... }` of a Sandbox: its place on a {@link Network}. Without
 * `attach`, `{ publish }` alone keeps the sandbox loopback-only (no interface but `lo`, no
 * route out) and publishes its TCP and UDP ports on the host: each connection (each UDP
 * client) is made inside the sandbox's network namespace by the helper, as root and rootless.
 *
 * @example
 * new Sandbox({ network: { attach: net, hostname: 'db', publish: [{ sandbox: 6379, host: 0 }], egress: 'deny' } });
 * new Sandbox({ network: { publish: [{ sandbox: 5432 }] } }); // loopback only, port 5432 reachable from the host
 */
export interface NetworkAttachOptions {
  /** The network to join; omitted: loopback only, with `publish` as the one way in. */
  attach?: Network;
  /**
   * The name other sandboxes of the network resolve to this one's address (through their
   * /etc/hosts); also its hostname unless `hostname` is given at the top level. Unnamed
   * sandboxes are reachable by address only.
   */
  hostname?: string;
  /** Ports reachable from the host (127.0.0.1 by default); see `sandbox.publishedPort()`. */
  publish?: PortMapping[];
  /** Connections the sandbox may open. @defaultValue 'deny' */
  egress?: EgressPolicy;
  /** Nameservers written to its /etc/resolv.conf. @defaultValue [] (no DNS: names come from /etc/hosts) */
  dns?: string[];
}

/**
 * `network: { mode: 'user', ... }`: a user-mode network (pasta, Debian `passt`) for sandboxes that
 * need to reach out without root or a bridge. The sandbox gets `eth0` (10.0.2.100/24, gateway
 * 10.0.2.2) in its own network namespace; what it may open is its egress policy, enforced by
 * nftables inside that namespace before any program runs (deny by default). The host's
 * addresses open only to rules naming one of them; the host's loopback only to a rule naming
 * the gateway `10.0.2.2` by itself. Works as root and rootless.
 *
 * @example
 * new Sandbox({ network: { mode: 'user', egress: { allow: [{ cidr: '192.0.2.0/24', ports: [443] }] } } });
 * new Sandbox({ network: { mode: 'user', egress: { allow: [{ cidr: '10.0.2.2', ports: [5432] }] } } }); // host's 127.0.0.1:5432
 */
export interface UserNetworkOptions {
  /** A user-mode network. */
  mode: 'user';
  /** Connections the sandbox may open. @defaultValue 'deny' */
  egress?: EgressPolicy;
  /** Ports reachable from the host (TCP and UDP, 127.0.0.1 by default); see `sandbox.publishedPort()`. */
  publish?: PortMapping[];
  /** Nameservers written to its /etc/resolv.conf (they must be allowed by `egress`). @defaultValue [] */
  dns?: string[];
  /** Extra /etc/hosts entries, name to IPv4 address (as `docker run --add-host`). @defaultValue {} */
  hosts?: Record<string, string>;
}

/** Attach options, checked. */
export interface ResolvedNetworkAttach {
  /** The network the sandbox is attached to; undefined: a loopback-only sandbox with published ports. */
  network: Network | undefined;
  /** The name other sandboxes on the network reach it by, if any. */
  hostname: string | undefined;
  /** Sandbox ports forwarded from the host. */
  publish: ResolvedPortMapping[];
  /** Which connections the sandbox may open. */
  egress: ResolvedEgress;
  /** Name servers written to the sandbox's /etc/resolv.conf. */
  dns: string[];
  /** A user-mode network (`mode: 'user'`), or undefined. */
  user?: ResolvedUserNetwork;
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** Validates `network: { attach, ... }`. */
export function resolveNetworkAttach(
  value: NetworkAttachOptions | UserNetworkOptions,
  field: string
): ResolvedNetworkAttach {
  if ('mode' in value) return resolveUserMode(value, field);
  for (const key of Object.keys(value)) {
    if (!['attach', 'hostname', 'publish', 'egress', 'dns'].includes(key))
      throw new SandboxOptionsError(`${field}.${key}`, 'unknown option');
  }
  if (value.attach === undefined) return resolveLoopbackPublish(value, field);
  if (!(value.attach instanceof Network))
    throw new SandboxOptionsError(`${field}.attach`, 'expected a Network (await Network.create())');
  if (value.hostname !== undefined && (typeof value.hostname !== 'string' || !HOSTNAME.test(value.hostname))) {
    throw new SandboxOptionsError(`${field}.hostname`, `expected a DNS label, got ${JSON.stringify(value.hostname)}`);
  }
  return {
    network: value.attach,
    hostname: value.hostname,
    publish: resolvePortMappings(value.publish, `${field}.publish`),
    egress: resolveEgress(value.egress, `${field}.egress`),
    dns: resolveDns(value.dns, `${field}.dns`),
  };
}

function resolveDns(value: unknown, field: string): string[] {
  const dns = value ?? [];
  if (!Array.isArray(dns) || !dns.every((d) => typeof d === 'string' && parseIpv4(d) !== undefined)) {
    throw new SandboxOptionsError(field, 'expected an array of IPv4 addresses');
  }
  return [...(dns as string[])];
}

/** `network: { mode: 'user', ... }`. */
function resolveUserMode(value: UserNetworkOptions, field: string): ResolvedNetworkAttach {
  for (const key of Object.keys(value)) {
    if (!['mode', 'publish', 'egress', 'dns', 'hosts'].includes(key))
      throw new SandboxOptionsError(
        `${field}.${key}`,
        key === 'attach' ? "a user-mode network is not attached to a Network; drop mode: 'user'" : 'unknown option'
      );
  }
  if (value.mode !== 'user') throw new SandboxOptionsError(`${field}.mode`, "expected 'user'");
  const egress = resolveEgress(value.egress, `${field}.egress`);
  return {
    network: undefined,
    hostname: undefined,
    publish: resolvePortMappings(value.publish, `${field}.publish`),
    egress,
    dns: resolveDns(value.dns, `${field}.dns`),
    user: resolveUserNetwork(value.hosts, egress, `${field}.hosts`),
  };
}

/** `network: { publish }` without `attach`: TCP and UDP ports of a loopback-only sandbox. */
function resolveLoopbackPublish(value: NetworkAttachOptions, field: string): ResolvedNetworkAttach {
  for (const key of ['hostname', 'egress', 'dns'] as const) {
    if (value[key] !== undefined)
      throw new SandboxOptionsError(
        `${field}.${key}`,
        'needs attach: a Network (a loopback-only sandbox has no address, route or resolver)'
      );
  }
  const publish = resolvePortMappings(value.publish, `${field}.publish`);
  if (publish.length === 0)
    throw new SandboxOptionsError(
      `${field}.attach`,
      'expected a Network, or publish: [...] for a loopback-only sandbox'
    );
  return {
    network: undefined,
    hostname: undefined,
    publish,
    egress: resolveEgress(undefined, `${field}.egress`),
    dns: [],
  };
}

/** Runs an nft script through the helper (the supervisor forks nft, not Node). */
export type NftRunner = (script: string) => Promise<unknown>;

/** How a sandbox joins a network. */
export interface NetworkLinkOptions {
  attach: ResolvedNetworkAttach;
  /** The sandbox's id. */
  sandbox: string;
  /** Its name in the network's hosts file. */
  hostname: string;
  /** Whether other sandboxes of the network find it by that name (`network.hostname` given). */
  listed: boolean;
  nft: NftRunner;
}

/**
 * One sandbox's attachment: its lease (address, name, hosts file), its nftables rules and its
 * published-port proxies. Opened before the helper creates the sandbox, closed after it is gone.
 */
export class NetworkLink {
  private proxies: PortProxy[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    readonly attach: ResolvedNetworkAttach,
    private readonly network: Network,
    readonly lease: Lease,
    private readonly nft: NftRunner
  ) {}

  /** Leases an address and loads the sandbox's rules, so nothing leaves it unfiltered. */
  static async open({ attach, sandbox, hostname, listed, nft }: NetworkLinkOptions): Promise<NetworkLink> {
    const network = attach.network;
    if (!network) throw new SandboxOptionsError('network.attach', 'expected a Network');
    if (process.getuid?.() !== 0)
      throw new SandboxUnsupportedError(['network bridge'], 'attaching to a network needs root');
    const lease = await network.join(sandbox, hostname, listed);
    try {
      await nft(sandboxRulesScript(network.table, lease, attach.egress));
    } catch (err) {
      await network.leave(lease);
      throw err;
    }
    return new NetworkLink(attach, network, lease, nft);
  }

  /** The `net` object of the create request. */
  createConfig(): NetCreateConfig {
    const net = this.network;
    return {
      hostVeth: this.lease.veth,
      bridge: net.bridge,
      ifname: 'eth0',
      address: this.lease.ip,
      prefixLength: net.prefixLength,
      gateway: net.gateway,
      mtu: net.mtu,
    };
  }

  /** The read-only bind of the sandbox's hosts file onto /etc/hosts. */
  hostsBind(): { source: string; target: string; readonly: boolean } {
    return { source: this.lease.hostsFile, target: '/etc/hosts', readonly: true };
  }

  /** Starts the published-port proxies (once the sandbox exists). */
  async publish(): Promise<void> {
    this.proxies = await openProxies(this.attach.publish, (m) => PortProxy.open(this.lease.ip, m));
  }

  /** Host port forwarding to `port` of the sandbox, or undefined when it is not published. */
  publishedPort(port: number, protocol: 'tcp' | 'udp'): number | undefined {
    return hostPortOf(this.proxies, port, protocol);
  }

  /** Stops the proxies, removes the rules, gives the address back. Idempotent, never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.proxies.map((p) => p.close()));
      await this.nft(deleteSandboxRulesScript(this.network.table, this.lease)).catch(() => {});
      await this.network.leave(this.lease).catch(() => {});
    })();
    return this.closing;
  }
}

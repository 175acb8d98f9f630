import type { Socket } from 'node:net';
import { connection } from '../platform/sessions.js';
import { PortProxy, hostPortOf, openProxies, type ResolvedPortMapping } from './port-proxy.js';

/**
 * Ports published into a sandbox that has no address the host can route to: a loopback-only
 * sandbox (`network: { publish }` without a network) or one on a user-mode network. TCP: a
 * listener on the host per port, and for each connection a socket the helper connects to
 * 127.0.0.1 inside the sandbox's network namespace (the `connect` request). UDP: a relay in
 * the helper (the `udp-relay` request), bound on the host, with a socket inside per client.
 * The sandbox needs no route for either, and both work rootless.
 */
export class LoopbackPorts {
  private constructor(
    private readonly proxies: PortProxy[],
    private readonly udp: ReadonlyArray<{ mapping: ResolvedPortMapping; hostPort: number }>
  ) {}

  /** Listens on the host ports of `mappings` for running sandbox `sandbox`. */
  static async open(sandbox: string, mappings: readonly ResolvedPortMapping[]): Promise<LoopbackPorts> {
    let count = 0;
    const helper = connection();
    const connectInside = async (port: number): Promise<Socket> => {
      const conn = `${sandbox}.c${++count}`;
      const handle = helper.awaitHandle(conn, 'connection');
      try {
        await helper.request('connect', { sandbox, conn, port });
        return await handle.socket;
      } catch (err) {
        handle.cancel();
        throw err;
      }
    };
    const udp: Array<{ mapping: ResolvedPortMapping; hostPort: number }> = [];
    // The relays end with the sandbox (the helper drops them on destroy).
    for (const m of mappings.filter((m) => m.protocol === 'udp')) {
      const reply = await helper.request('udp-relay', {
        sandbox,
        relay: `${sandbox}.u${m.sandbox}`,
        port: m.sandbox,
        hostAddress: m.hostAddress,
        hostPort: m.host,
      });
      udp.push({ mapping: m, hostPort: reply.port });
    }
    const tcp = mappings.filter((m) => m.protocol === 'tcp');
    return new LoopbackPorts(await openProxies(tcp, (m) => PortProxy.openTcp(() => connectInside(m.sandbox), m)), udp);
  }

  /** Host port forwarding to `port` of the sandbox, or undefined when it is not published. */
  publishedPort(port: number, protocol: 'tcp' | 'udp'): number | undefined {
    if (protocol === 'udp') return this.udp.find((u) => u.mapping.sandbox === port)?.hostPort;
    return hostPortOf(this.proxies, port, protocol);
  }

  /** Stops listening and cuts every forwarded connection. Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}

import type { Socket } from 'node:net';
import { connection } from '../platform/sessions.js';
import { PortProxy, hostPortOf, openProxies, type ResolvedPortMapping } from './port-proxy.js';

/**
 * TCP ports published into a loopback-only sandbox (`network: { publish }` without a
 * network): a listener on the host per port, and for each connection a socket the helper
 * connects to 127.0.0.1 inside the sandbox's network namespace (the `connect` request), so
 * the sandbox needs no interface but `lo` and no route, and it works rootless.
 */
export class LoopbackPorts {
  private constructor(private readonly proxies: PortProxy[]) {}

  /** Listens on the host ports of `mappings` for running sandbox `sandbox`. */
  static async open(sandbox: string, mappings: readonly ResolvedPortMapping[]): Promise<LoopbackPorts> {
    let count = 0;
    const connectInside = async (port: number): Promise<Socket> => {
      const conn = `${sandbox}.c${++count}`;
      const helper = connection();
      const handle = helper.awaitHandle(conn, 'connection');
      try {
        await helper.request('connect', { sandbox, conn, port });
        return await handle.socket;
      } catch (err) {
        handle.cancel();
        throw err;
      }
    };
    return new LoopbackPorts(await openProxies(mappings, (m) => PortProxy.openTcp(() => connectInside(m.sandbox), m)));
  }

  /** Host port forwarding to `port` of the sandbox, or undefined when it is not published. */
  publishedPort(port: number, protocol: 'tcp' | 'udp'): number | undefined {
    return hostPortOf(this.proxies, port, protocol);
  }

  /** Stops listening and cuts every forwarded connection. Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}

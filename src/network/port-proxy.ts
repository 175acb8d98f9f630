import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SandboxOptionsError, SandboxSetupError } from '../errors/sandbox-error.js';

/** A sandbox port reachable from the host. */
export interface PortMapping {
  /** Port inside the sandbox. */
  sandbox: number;
  /** Port on the host; 0 picks a free one (see `sandbox.publishedPort()`). @defaultValue 0 */
  host?: number;
  /** @defaultValue 'tcp' */
  protocol?: 'tcp' | 'udp';
  /** Host address to listen on. @defaultValue '127.0.0.1' */
  hostAddress?: string;
}

/** A checked port mapping. */
export type ResolvedPortMapping = Required<PortMapping>;

const UDP_IDLE_MS = 60_000;
/** How long a connection waits for the sandbox side to answer before it is reset. */
const UPSTREAM_CONNECT_MS = 5_000;
/** How long a refused connection waits for the client's first bytes before it is reset. */
const RESET_GRACE_MS = 25;
/** How long Node stays up after a forwarded connection closed, so the client sees the end. */
const CLOSE_LINGER_MS = 200;

/** Validates `publish` entries. */
export function resolvePortMappings(value: unknown, field: string): ResolvedPortMapping[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new SandboxOptionsError(field, 'expected an array of { sandbox, host?, protocol? }');
  const seen = new Set<string>();
  return value.map((m: PortMapping, i) => {
    const f = `${field}[${i}]`;
    if (typeof m !== 'object' || m === null) throw new SandboxOptionsError(f, 'expected { sandbox, host?, protocol? }');
    const port = (v: unknown, name: string, min: number) => {
      if (!Number.isInteger(v) || (v as number) < min || (v as number) > 65535)
        throw new SandboxOptionsError(`${f}.${name}`, `expected a port number (${min}-65535)`);
      return v as number;
    };
    const protocol = m.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp')
      throw new SandboxOptionsError(`${f}.protocol`, "expected 'tcp' or 'udp'");
    const hostAddress = m.hostAddress ?? '127.0.0.1';
    if (typeof hostAddress !== 'string') throw new SandboxOptionsError(`${f}.hostAddress`, 'expected an IP address');
    const out = { sandbox: port(m.sandbox, 'sandbox', 1), host: port(m.host ?? 0, 'host', 0), protocol, hostAddress };
    const key = `${out.sandbox}/${protocol}`;
    if (seen.has(key)) throw new SandboxOptionsError(f, `port ${key} is published twice`);
    seen.add(key);
    return out;
  });
}

/**
 * A userspace forwarder from a host port to a sandbox's address: a `net.Server` (TCP) or a
 * `dgram` socket (UDP, one upstream socket per client, dropped after a minute of silence).
 * It works for clients on the host's loopback, which DNAT would not reach without
 * `route_localnet`.
 */
export class PortProxy {
  private readonly tcp: Server | undefined;
  private readonly udp: UdpSocket | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly udpClients = new Map<string, { upstream: UdpSocket; timer: NodeJS.Timeout }>();

  private constructor(
    readonly mapping: ResolvedPortMapping,
    readonly hostPort: number,
    server: Server | UdpSocket
  ) {
    if (server instanceof Object && 'listen' in server) this.tcp = server as Server;
    else this.udp = server as UdpSocket;
  }

  /** Listens on the host and forwards to `targetIp:mapping.sandbox`. */
  static async open(targetIp: string, mapping: ResolvedPortMapping): Promise<PortProxy> {
    return mapping.protocol === 'tcp'
      ? openTcp(() => connectTo(targetIp, mapping.sandbox), mapping)
      : openUdp(targetIp, mapping);
  }

  /**
   * Listens on the host and forwards each TCP connection to the socket `connector` makes
   * (the helper's, connected inside a loopback-only sandbox).
   */
  static async openTcp(connector: UpstreamConnector, mapping: ResolvedPortMapping): Promise<PortProxy> {
    return openTcp(connector, mapping);
  }

  /** @internal */
  static make(mapping: ResolvedPortMapping, hostPort: number, server: Server | UdpSocket): PortProxy {
    return new PortProxy(mapping, hostPort, server);
  }

  /** @internal */
  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** @internal */
  udpClient(key: string, create: () => UdpSocket): UdpSocket {
    let c = this.udpClients.get(key);
    if (!c) {
      c = { upstream: create(), timer: setTimeout(() => {}, 0) };
      this.udpClients.set(key, c);
    }
    clearTimeout(c.timer);
    const entry = c;
    c.timer = setTimeout(() => {
      entry.upstream.close();
      this.udpClients.delete(key);
    }, UDP_IDLE_MS).unref();
    return c.upstream;
  }

  /** Stops listening and cuts every forwarded connection. Idempotent. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const c of this.udpClients.values()) {
      clearTimeout(c.timer);
      c.upstream.close();
    }
    this.udpClients.clear();
    if (this.tcp?.listening) await new Promise<void>((resolve) => this.tcp!.close(() => resolve()));
    if (this.udp)
      await new Promise<void>((resolve) => {
        try {
          this.udp!.close(() => resolve());
        } catch {
          resolve();
        }
      });
  }
}

/** Makes the sandbox side of one forwarded connection: resolves once it is connected. */
export type UpstreamConnector = () => Promise<Socket>;

/** A TCP connection to `host:port`, resolved once connected (rejected on error or after UPSTREAM_CONNECT_MS). */
function connectTo(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const upstream = connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => upstream.destroy(new Error('the sandbox side did not answer')), UPSTREAM_CONNECT_MS);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.removeListener('error', reject);
      resolve(upstream);
    });
    upstream.once('error', (err) => {
      clearTimeout(timer);
      upstream.destroy();
      reject(err);
    });
  });
}

function openTcp(connector: UpstreamConnector, mapping: ResolvedPortMapping): Promise<PortProxy> {
  let proxy: PortProxy | undefined;
  // Paused until the sandbox side answers: no byte of the client's is read before then.
  // Half-open: a client that shuts down its sending side still gets the sandbox's answer.
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    proxy?.track(client);
    holdLoopWhileOpen(client);
    forwardWhenUp(client, connector(), (s) => proxy?.track(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: mapping.hostAddress, port: mapping.host }, () => {
      server.off('error', reject);
      server.unref();
      proxy = PortProxy.make(mapping, (server.address() as { port: number }).port, server);
      resolve(proxy);
    });
  });
}

function openUdp(targetIp: string, mapping: ResolvedPortMapping): Promise<PortProxy> {
  const server = createSocket('udp4');
  let proxy: PortProxy | undefined;
  server.on('message', (msg, from) => {
    const upstream = proxy?.udpClient(`${from.address}:${from.port}`, () => {
      const s = createSocket('udp4');
      s.on('message', (reply) => server.send(reply, from.port, from.address));
      s.on('error', () => {});
      s.connect(mapping.sandbox, targetIp);
      s.unref();
      return s;
    });
    const send = () =>
      upstream?.send(msg, (err) => {
        if (err) upstream.emit('error', err);
      });
    try {
      send();
    } catch {
      upstream?.once('connect', send); // not connected yet
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.bind({ address: mapping.hostAddress, port: mapping.host }, () => {
      server.off('error', reject);
      server.on('error', () => {});
      server.unref();
      proxy = PortProxy.make(mapping, server.address().port, server);
      resolve(proxy);
    });
  });
}

/**
 * Splices a host client to its sandbox-side connection once that one is up. Until then the
 * client is held paused; when nothing listens in the sandbox (refused, unreachable, or no
 * answer in time) the client is reset, as a closed port would, so a harness polling for
 * readiness sees ECONNRESET instead of an accepted-then-silent socket. The reset waits for
 * the client's first bytes (or RESET_GRACE_MS): fetch() in this same process, reset before
 * it has sent its request, would retry forever without ever settling.
 */
export function forwardWhenUp(client: Socket, upstream: Promise<Socket>, track: (s: Socket) => void = () => {}): void {
  let sandboxSide: Socket | undefined;
  client.on('error', () => {
    sandboxSide?.destroy();
    client.destroy();
  });
  client.once('close', () => sandboxSide?.destroy());
  upstream.then(
    (s) => {
      if (client.destroyed) return void s.destroy();
      sandboxSide = s;
      s.allowHalfOpen = true; // likewise for the program's half-close
      track(s);
      // A reset from the sandbox side is passed on as a reset.
      s.on('error', () => {
        if (!client.destroyed) client.resetAndDestroy();
      });
      s.on('close', () => {
        if (!client.destroyed && !client.writableEnded) client.destroy();
      }); // an abrupt end
      client.on('end', () => {
        if (s.writableEnded && s.readableEnded) s.destroy();
      });
      client.pipe(s);
      s.pipe(client);
      client.resume();
    },
    () => resetSoon(client)
  );
}

/** Resets a client that never reached the sandbox, after its first bytes or RESET_GRACE_MS. */
function resetSoon(client: Socket): void {
  if (client.destroyed) return;
  client.resume(); // what the client sent is dropped
  const grace = setTimeout(() => client.resetAndDestroy(), RESET_GRACE_MS);
  client.once('data', () => {
    clearTimeout(grace);
    client.resetAndDestroy();
  });
  client.once('close', () => clearTimeout(grace));
}

/**
 * Keeps Node's event loop alive from the moment a connection is accepted until shortly after
 * it closes. A paused socket is no active handle, and a client in this same process (fetch
 * retries a request whose connection was reset before it was sent) may hold none of its own
 * at that moment: without this, Node would exit with the client's promise unsettled. The
 * listening server itself stays unref'd, so an idle proxy never keeps Node up.
 */
function holdLoopWhileOpen(client: Socket): void {
  const hold = setInterval(() => {}, 2 ** 30);
  client.once('close', () => setTimeout(() => clearInterval(hold), CLOSE_LINGER_MS));
}

/**
 * Opens a proxy per mapping with `open`; a host port that cannot be had is a SandboxSetupError
 * (step `net.publish`), and the proxies opened before it are closed again.
 */
export async function openProxies(
  mappings: readonly ResolvedPortMapping[],
  open: (m: ResolvedPortMapping) => Promise<PortProxy>
): Promise<PortProxy[]> {
  const proxies: PortProxy[] = [];
  for (const m of mappings) {
    try {
      proxies.push(await open(m));
    } catch (err) {
      await Promise.all(proxies.map((p) => p.close()));
      const e = err as NodeJS.ErrnoException;
      throw new SandboxSetupError('start', {
        step: 'net.publish',
        syscall: e.syscall ?? 'listen',
        errno: typeof e.errno === 'number' ? -e.errno : null,
        errnoCode: e.code ?? null,
        path: null,
        detail: `${m.hostAddress}:${m.host}/${m.protocol} for port ${m.sandbox}: ${e.message}`,
      });
    }
  }
  return proxies;
}

/** The host port of the proxy for `port`/`protocol`, or undefined when it is not published. */
export function hostPortOf(proxies: readonly PortProxy[], port: number, protocol: 'tcp' | 'udp'): number | undefined {
  return proxies.find((p) => p.mapping.sandbox === port && p.mapping.protocol === protocol)?.hostPort;
}

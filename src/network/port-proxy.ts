import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

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
      if (!Number.isInteger(v) || (v as number) < min || (v as number) > 65535) throw new SandboxOptionsError(`${f}.${name}`, `expected a port number (${min}-65535)`);
      return v as number;
    };
    const protocol = m.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') throw new SandboxOptionsError(`${f}.protocol`, "expected 'tcp' or 'udp'");
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

  private constructor(readonly mapping: ResolvedPortMapping, readonly hostPort: number, server: Server | UdpSocket) {
    if (server instanceof Object && 'listen' in server) this.tcp = server as Server;
    else this.udp = server as UdpSocket;
  }

  /** Listens on the host and forwards to `targetIp:mapping.sandbox`. */
  static async open(targetIp: string, mapping: ResolvedPortMapping): Promise<PortProxy> {
    return mapping.protocol === 'tcp' ? openTcp(targetIp, mapping) : openUdp(targetIp, mapping);
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
    c.timer = setTimeout(() => { entry.upstream.close(); this.udpClients.delete(key); }, UDP_IDLE_MS).unref();
    return c.upstream;
  }

  /** Stops listening and cuts every forwarded connection. Idempotent. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const c of this.udpClients.values()) { clearTimeout(c.timer); c.upstream.close(); }
    this.udpClients.clear();
    if (this.tcp?.listening) await new Promise<void>((resolve) => this.tcp!.close(() => resolve()));
    if (this.udp) await new Promise<void>((resolve) => { try { this.udp!.close(() => resolve()); } catch { resolve(); } });
  }
}

function openTcp(targetIp: string, mapping: ResolvedPortMapping): Promise<PortProxy> {
  let proxy: PortProxy | undefined;
  // Paused until the sandbox side answers: no byte of the client's is read before then.
  const server = createServer({ pauseOnConnect: true }, (client) => {
    const upstream = connect({ host: targetIp, port: mapping.sandbox });
    proxy?.track(client);
    proxy?.track(upstream);
    forwardOnceConnected(client, upstream);
    holdLoopWhileOpen(client);
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
    const send = () => upstream?.send(msg, (err) => { if (err) upstream.emit('error', err); });
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
 * answer in UPSTREAM_CONNECT_MS) the client is reset, as a closed port would, so a harness
 * polling for readiness sees ECONNRESET instead of an accepted-then-silent socket. The reset
 * waits for the client's first bytes (or RESET_GRACE_MS): fetch() in this same process, reset
 * before it has sent its request, would retry forever without ever settling.
 * Both sockets stay referenced while open: an open connection keeps Node's event loop alive,
 * an idle proxy does not (its server is unref'd).
 */
export function forwardOnceConnected(client: Socket, upstream: Socket): void {
  let connected = false;
  const timer = setTimeout(() => upstream.destroy(new Error('the sandbox side did not answer')), UPSTREAM_CONNECT_MS);
  upstream.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  let resetting = false;
  const reset = () => {
    if (resetting || client.destroyed) return;
    resetting = true;
    client.removeAllListeners('data');
    client.resume(); // what the client sent is dropped
    const grace = setTimeout(() => client.resetAndDestroy(), RESET_GRACE_MS);
    client.once('data', () => { clearTimeout(grace); client.resetAndDestroy(); });
    client.once('close', () => clearTimeout(grace));
  };
  upstream.on('error', () => {
    clearTimeout(timer);
    // A reset from the sandbox side (or no connection at all) is passed on as a reset.
    if (connected) client.resetAndDestroy();
    else reset();
    upstream.destroy();
  });
  upstream.on('close', () => {
    clearTimeout(timer);
    if (!connected) reset();
  });
  client.on('error', () => {
    clearTimeout(timer);
    upstream.destroy();
    client.destroy();
  });
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

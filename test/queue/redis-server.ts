// A private redis-server for a test file: 127.0.0.1, a free port, no persistence of its own
// (--save '' --appendonly no). restart() is a maintenance restart on the same port: SHUTDOWN SAVE
// writes the data once, the new server loads it (a Redis that loses its data loses the queue).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Sends one inline command and returns the first reply line (enough for PING and SHUTDOWN). */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.once('error', reject);
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) socket.end();
    });
    socket.on('close', () => resolve(reply.split('\r\n')[0] ?? ''));
    socket.write(`${line}\r\n`);
  });
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'sandkit-redis-'));
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--dbfilename',
        'dump.rdb',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    );
    let log = '';
    child.stdout!.on('data', (d) => (log = (log + d.toString()).slice(-4000)));
    child.stderr!.on('data', (d) => (log = (log + d.toString()).slice(-4000)));
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${log}`);
      if ((await command(this.port, 'PING').catch(() => '')) === '+PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${this.port}: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops it (saving its data once) and starts it again on the same port. */
  async restart(downMs = 500): Promise<void> {
    const child = this.child!;
    const exited = new Promise((r) => child.once('exit', r));
    await command(this.port, 'SHUTDOWN SAVE').catch(() => '');
    await exited;
    await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

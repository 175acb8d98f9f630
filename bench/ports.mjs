#!/usr/bin/env node
// Published ports: connection setup latency and throughput through sandkit's published-port
// proxy (into a sandbox on a bridge, and into a loopback-only one), next to a direct connection to the sandbox's address on the bridge and to the same
// server on the host's loopback (no sandbox), in one run. Figures are medians; ratios are
// against the host loopback. Needs root (a network bridge). See bench/README.md.
//
//   node bench/ports.mjs [--connects 200] [--mib 1024] [--runs 3] [--json]
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { cpus, release } from 'node:os';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    connects: { type: 'string', default: '200' },
    mib: { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const connects = Number(args.connects),
  mib = Number(args.mib),
  runs = Number(args.runs);
if (process.getuid?.() !== 0) {
  console.error('bench/ports.mjs needs root: published ports go through a network bridge');
  process.exit(2);
}
const { Network, Sandbox } = await import('../dist/index.js');

// One server program for all three: each connection gets `mib` MiB when it sends "data\n",
// and is closed at once when it sends "ping\n" (setup latency).
const SERVER = `
import socket, threading, sys
port, mib = int(sys.argv[1]), int(sys.argv[2])
chunk = memoryview(b"x" * (1 << 20))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(256); print("listening", s.getsockname()[1], flush=True)
def serve(c):
    with c:
        if c.recv(5) == b"data\\n":
            for _ in range(mib): c.sendall(chunk)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`;
const PORT = 7300;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function once(host, port, request) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let bytes = 0;
    const s = connect({ host, port });
    s.on('connect', () => s.write(request));
    s.on('data', (d) => {
      bytes += d.length;
    });
    s.on('end', () => resolve({ ms: performance.now() - t0, bytes }));
    s.on('error', reject);
  });
}

async function measure(label, host, port) {
  for (let i = 0; i < 10; i++) await once(host, port, 'ping\n'); // warm up
  const setup = [];
  for (let i = 0; i < connects; i++) setup.push((await once(host, port, 'ping\n')).ms);
  const rates = [];
  for (let i = 0; i < runs; i++) {
    const { ms, bytes } = await once(host, port, 'data\n');
    if (bytes !== mib * 1048576) throw new Error(`${label}: got ${bytes} bytes`);
    rates.push(bytes / 1048576 / (ms / 1000));
  }
  return { label, setupMs: median(setup), mibPerS: median(rates) };
}

/** Resolves with the port the server printed once it listens. */
async function waitListening(stdout) {
  for await (const chunk of stdout) {
    const m = /listening (\d+)/.exec(String(chunk));
    if (m) return Number(m[1]);
  }
  throw new Error('server did not start');
}

const net = await Network.create();
const sb = new Sandbox({ network: { attach: net, publish: [{ sandbox: PORT }] } });
const loopback = new Sandbox({ network: { publish: [{ sandbox: PORT }] } }); // no network: lo only
const host = spawn('python3', ['-c', SERVER, '0', String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  const inside = sb.spawn(['python3', '-c', SERVER, String(PORT), String(mib)]);
  const insideLoopback = loopback.spawn(['python3', '-c', SERVER, String(PORT), String(mib)]);
  const [, hostPort] = await Promise.all([
    waitListening(inside.stdout),
    waitListening(host.stdout),
    waitListening(insideLoopback.stdout),
  ]);
  const lease = (await sb.run(['sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1"])).stdout.trim();
  const rows = [
    await measure('host loopback (no sandbox)', '127.0.0.1', hostPort),
    await measure('sandbox address on the bridge', lease, PORT),
    await measure('published port (127.0.0.1)', '127.0.0.1', await sb.publishedPort(PORT)),
    await measure('published port, loopback-only', '127.0.0.1', await loopback.publishedPort(PORT)),
  ];
  const base = rows[0];
  const out = rows.map((r) => ({
    ...r,
    setupRatio: r.setupMs / base.setupMs,
    throughputRatio: r.mibPerS / base.mibPerS,
  }));
  if (args.json)
    console.log(JSON.stringify({ cpus: cpus().length, kernel: release(), connects, mib, runs, rows: out }, null, 2));
  else {
    console.log(
      `${cpus().length} CPUs, kernel ${release()}; ${connects} connects, ${runs}× ${mib} MiB per row (medians)`
    );
    for (const r of out)
      console.log(
        `${r.label.padEnd(32)} setup ${r.setupMs.toFixed(3)} ms (${r.setupRatio.toFixed(2)}×)   ${r.mibPerS.toFixed(0)} MiB/s (${r.throughputRatio.toFixed(2)}×)`
      );
  }
} finally {
  host.kill();
  await sb.destroy();
  await loopback.destroy();
  await net.destroy();
}

#!/usr/bin/env node
// Egress throughput: a sandbox sending to a server on the host, through a user-mode network
// (pasta; to the host's loopback by the gateway), through a bridge (veth and the host's
// routing; to the gateway address; root only) and, as the baseline, the same client on the
// host over loopback. Same client program (python3) each time; figures are medians of --runs,
// ratios against the host loopback. See bench/README.md.
//
//   node bench/usernet.mjs [--mib 512] [--runs 3] [--json]
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus, release } from 'node:os';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '512' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const mib = Number(args.mib),
  runs = Number(args.runs);
const { Network, Sandbox, USER_NETWORK_GATEWAY } = await import('../dist/index.js');

// Sends `mib` MiB to host:port and prints the MB/s it took, from connect to the server's close.
const CLIENT = `
import socket, sys, time
host, port, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = memoryview(b"x" * (1 << 20))
t0 = time.monotonic(); s = socket.create_connection((host, port))
for _ in range(mib): s.sendall(chunk)
s.shutdown(socket.SHUT_WR); s.recv(1)
print(mib * (1 << 20) / (time.monotonic() - t0) / 1e6)
`;

/** A sink on the host: reads everything, closes when the client is done. */
function sink(address) {
  const server = createServer((c) => {
    c.on('data', () => {});
    c.on('end', () => c.end());
  });
  return new Promise((resolve) => server.listen(0, address, () => resolve(server)));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function hostRun(port) {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', CLIENT, '127.0.0.1', String(port), String(mib)]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`client exited ${code}`))));
  });
}

async function sandboxRun(sb, host, port) {
  const r = await sb.run(['python3', '-c', CLIENT, host, String(port), String(mib)]);
  if (r.exitCode !== 0) throw new Error(`client in the sandbox: ${r.stderr}`);
  return Number(r.stdout);
}

const rows = [];
const loop = await sink('127.0.0.1');
const loopPort = loop.address().port;
const measure = async (name, once) => {
  const xs = [];
  for (let i = 0; i < runs; i++) xs.push(await once());
  rows.push({ name, mbPerS: median(xs) });
};

await measure('host loopback (no sandbox)', () => hostRun(loopPort));

{
  const sb = new Sandbox({
    network: { mode: 'user', egress: { allow: [{ cidr: USER_NETWORK_GATEWAY, ports: [loopPort], protocol: 'tcp' }] } },
    limits: 'unlimited',
  });
  try {
    await measure('user mode (pasta) -> host loopback', () => sandboxRun(sb, USER_NETWORK_GATEWAY, loopPort));
  } finally {
    await sb.destroy();
  }
}

if (process.getuid?.() === 0) {
  const net = await Network.create({});
  const gw = await sink(net.gateway);
  const gwPort = gw.address().port;
  const sb = new Sandbox({
    network: { attach: net, egress: { allow: [{ cidr: net.gateway, ports: [gwPort], protocol: 'tcp' }] } },
    limits: 'unlimited',
  });
  try {
    await measure('bridge (veth) -> gateway', () => sandboxRun(sb, net.gateway, gwPort));
  } finally {
    await sb.destroy();
    gw.close();
    await net.destroy();
  }
} else {
  console.error('bridge row skipped: needs root');
}
loop.close();

const base = rows[0].mbPerS;
if (args.json) {
  console.log(JSON.stringify({ mib, runs, kernel: release(), cpus: cpus().length, rows }, null, 2));
} else {
  console.log(`egress throughput, ${mib} MiB per run, median of ${runs} (kernel ${release()}, ${cpus().length} CPUs)`);
  for (const r of rows)
    console.log(`  ${r.name.padEnd(38)} ${r.mbPerS.toFixed(0).padStart(6)} MB/s  x${(r.mbPerS / base).toFixed(2)}`);
}

#!/usr/bin/env node
// Load test of examples/http-runner: requests per second and latency percentiles with 1, 8 and 32
// concurrent keep-alive clients on loopback, each POSTing a small shell program. Side by side: the
// same requests against a minimal peer service that runs each program under bubblewrap (one
// `bwrap ... sh -c CODE` per request, no pool). Each server runs in its own process, so the load
// generator does not share its event loop. See bench/README.md, section "HTTP runner".
//
//   node bench/http-runner.mjs [--seconds 5] [--clients 1,8,32] [--pool-size 8] [--json]
import { spawn } from 'node:child_process';
import { createServer, request, Agent } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { BWRAP_ARGS, check, machineLine, positive, root, sleep, spawnAwait, summary } from './lib.mjs';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '1,8,32' },
    'pool-size': { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    'serve-bwrap': { type: 'boolean', default: false },
  },
});

// The peer: POST /run { language: 'sh', code } → bwrap sh -c code, output collected.
if (args['serve-bwrap']) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { code } = JSON.parse(Buffer.concat(chunks).toString());
      const child = spawn('bwrap', [...BWRAP_ARGS.slice(0, -1), 'sh', '-c', code], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (d) => {
        if (stdout.length < 65536) stdout += d;
      });
      child.stderr.resume();
      child.on('close', (exitCode) => {
        const text = JSON.stringify({ verdict: exitCode === 0 ? 'accepted' : 'runtime-error', exitCode, stdout });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const seconds = positive('seconds', args.seconds);
  const levels = args.clients.split(',').map((c) => Math.round(positive('clients', c)));
  const poolSize = Math.round(positive('pool-size', args['pool-size']));
  console.log(machineLine('http-runner load test'));
  console.log(
    `each request: POST /run {"language":"sh","code":"echo hi"}, keep-alive, ${seconds} s per cell; http-runner pool size ${poolSize}`
  );
  const services = [
    {
      key: 'http-runner',
      label: 'http-runner (SandboxPool)',
      argv: [
        join(root, 'examples', 'run.mjs'),
        'http-runner/server',
        '--listen',
        '127.0.0.1:0',
        '--pool-size',
        String(poolSize),
      ],
    },
  ];
  const bwrapProblem = await check(() => spawnAwait('bwrap', BWRAP_ARGS));
  if (bwrapProblem) console.log(`note: bwrap peer skipped: ${bwrapProblem}`);
  else
    services.push({
      key: 'bwrap',
      label: 'bwrap per request',
      argv: [join(root, 'bench', 'http-runner.mjs'), '--serve-bwrap'],
    });

  const results = {};
  for (const service of services) {
    const { child, url } = await startServer(service.argv);
    try {
      await load(url, 1, 1); // warm up: first request, connection
      results[service.key] = { label: service.label };
      for (const clients of levels) {
        await sleep(500);
        results[service.key][clients] = await load(url, clients, seconds);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }

  console.log(
    `\n  ${'service'.padEnd(28)}${'clients'.padStart(8)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}`
  );
  for (const r of Object.values(results)) {
    for (const clients of levels) {
      const c = r[clients];
      console.log(
        `  ${r.label.padEnd(28)}${String(clients).padStart(8)}${c.rps.toFixed(1).padStart(9)}${c.medianMs.toFixed(1).padStart(9)}${c.p99Ms.toFixed(1).padStart(9)}${String(c.errors).padStart(8)}`
      );
    }
  }
  if (results.bwrap) {
    const ratios = levels.map((c) => `${c}: ${(results['http-runner'][c].rps / results.bwrap[c].rps).toFixed(2)}×`);
    console.log(`\nhttp-runner req/s over the bwrap peer's, by clients: ${ratios.join('  ')}`);
  }
  if (args.json) {
    const dir = join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `http-runner-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ date: new Date().toISOString(), machine: machineLine('http-runner'), results }, null, 2)}\n`
    );
    console.log(`results written to ${relative(process.cwd(), file)}`);
  }
}

/** Starts a service process and resolves with its URL once it printed "listening on URL". */
function startServer(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve({ child, url: m[1] });
      } else if (out.length > 65536) reject(new Error('the server printed no URL'));
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${out.slice(-500)}`)));
  });
}

/** `clients` keep-alive clients POSTing in a loop for `seconds`; requests/s and latency percentiles. */
async function load(url, clients, seconds) {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const body = JSON.stringify({ language: 'sh', code: 'echo hi' });
  const samples = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        const ok = await post(url, body, agent);
        if (ok) samples.push(performance.now() - s);
        else errors++;
      }
    })
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: Math.round((samples.length / elapsed) * 10) / 10, errors, ...summary(samples.length ? samples : [0]) };
}

function post(url, body, agent) {
  return new Promise((resolve) => {
    const req = request(
      `${url}/run`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 && JSON.parse(text).stdout === 'hi\n');
          } catch {
            resolve(false);
          }
        });
      }
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

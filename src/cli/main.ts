#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { constants } from 'node:os';
import { Sandbox } from '../sandbox/sandbox.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { MountOptions, NetworkMode } from '../sandbox/options.js';
import { probeHost } from '../sandbox/doctor.js';
import { imageCommand, resolveImageRef } from './image-commands.js';
import { networkCommand, parsePublish } from './network-commands.js';
import { Network } from '../network/network.js';
import type { NetworkAttachOptions } from '../network/network-link.js';
import type { PortMapping } from '../network/port-proxy.js';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

const USAGE = `Usage:
  sandkit run [options] -- <command> [args...]   run a command in a fresh sandbox
  sandkit snapshot [options] -- <command> [args...]
                                                 run a command, then snapshot the sandbox's files
                                                 into the store (--name NAME, --export FILE.oci.tar)
  sandkit image import <file|dir> [--name NAME]  import an OCI/docker archive, OCI layout or rootfs tarball
  sandkit image ls | rm <ref>... | gc            list, remove images and snapshots; drop unused layers
  sandkit network create [--subnet CIDR] <name>  make a network that stays until removed
  sandkit network ls [--json] | rm <name>...     list, remove networks
  sandkit doctor                                 show what this host supports
Options of run:
  --image <ref>          a rootfs directory, an image archive or layout, or an imported image's
                         name or id (default: the host's system, read-only)
  --network none|host|<name>
                         none: loopback only (default); host: the host's network (unsafe);
                         a name: a network made with sandkit network create (root)
  -p, --publish [addr:][hostport:]port[/udp]
                         publish a sandbox port on the host (repeatable; without hostport a
                         free one, printed); TCP into the loopback-only sandbox itself, UDP
                         through network sandkit-default unless --network names one
  --hostname <name>      (default: sandbox)
  --env KEY=VALUE        set a variable (repeatable)
  --cwd <dir>            working directory inside
  --mount SRC:DST[:rw]   bind a host path (read-only unless :rw; repeatable)
  --user <uid|name>      run as this user inside`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'run') return runCommand(rest);
  if (command === 'snapshot') return runCommand(rest, true);
  if (command === 'image') return imageCommand(rest);
  if (command === 'network') return networkCommand(rest);
  if (command === 'doctor') return doctor();
  if (command === '--version' || command === '-v') {
    console.log('sandkit 0.1.0');
    return 0;
  }
  console.error(USAGE);
  return command === '--help' || command === '-h' ? 0 : 2;
}

async function runCommand(args: string[], snapshot = false): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      image: { type: 'string' },
      network: { type: 'string' },
      hostname: { type: 'string' },
      publish: { type: 'string', short: 'p', multiple: true },
      env: { type: 'string', multiple: true },
      cwd: { type: 'string' },
      mount: { type: 'string', multiple: true },
      user: { type: 'string' },
      ...(snapshot ? { name: { type: 'string' as const }, export: { type: 'string' as const } } : {}),
    },
  });
  if (positionals.length === 0) {
    console.error(`sandkit run: no command given\n${USAGE}`);
    return 2;
  }
  const publish = (values.publish ?? []).map(parsePublish);
  const net = await networkFor(values.network, publish);
  const sandbox = new Sandbox({
    image: await resolveImageRef(values.image, true),
    network:
      net || publish.length > 0
        ? ({ ...(net && { attach: net }), publish } satisfies NetworkAttachOptions)
        : ((values.network ?? 'none') as NetworkMode),
    ...(values.hostname ? { hostname: values.hostname } : {}),
    mounts: (values.mount ?? []).map(parseMount),
  });
  try {
    for (const m of publish) {
      const hostPort = await sandbox.publishedPort(m.sandbox, m.protocol);
      console.error(
        `sandkit: published ${m.hostAddress ?? '127.0.0.1'}:${hostPort} -> ${m.sandbox}/${m.protocol ?? 'tcp'}`
      );
    }
    const proc = sandbox.spawn(positionals, {
      env: Object.fromEntries((values.env ?? []).map(splitEnv)),
      ...(values.cwd ? { cwd: values.cwd } : {}),
      ...(values.user ? { user: /^\d+$/.test(values.user) ? Number(values.user) : values.user } : {}),
      stdin: process.stdin.isTTY ? 'ignore' : process.stdin,
      maxBuffer: 0,
    });
    proc.stdout.pipe(process.stdout);
    proc.stderr.pipe(process.stderr);
    const forward = (sig: NodeJS.Signals) => proc.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
    const result = await proc;
    if (snapshot && result.exitCode === 0) {
      const snap = await sandbox.snapshot(values.name ? { name: String(values.name) } : {});
      if (values.export) await snap.export(String(values.export), values.name ? { name: String(values.name) } : {});
      console.error(`snapshot ${snap.id}${values.export ? ` exported to ${values.export}` : ''}`);
    }
    if (result.signal) return 128 + (constants.signals[result.signal] ?? 0);
    return result.exitCode ?? 1;
  } finally {
    await sandbox.destroy();
    await net?.destroy();
  }
}

/**
 * The network to attach to (left after the run): `--network <name>`, or, for UDP ports, which
 * a loopback-only sandbox cannot publish, `sandkit-default`. TCP ports alone are published
 * into the loopback-only sandbox itself (rootless too).
 */
async function networkFor(mode: string | undefined, publish: PortMapping[]): Promise<Network | undefined> {
  if (mode === 'host' && publish.length > 0)
    throw new SandboxOptionsError('publish', "a sandbox on --network host already listens on the host's ports");
  if (mode === 'host') return undefined;
  const udp = publish.some((m) => m.protocol === 'udp');
  if (mode === 'none' && udp)
    throw new SandboxOptionsError('publish', 'UDP ports need a network: drop --network none or name one');
  if (mode === undefined || mode === 'none') return udp ? Network.create({ name: 'sandkit-default' }) : undefined;
  // Like docker run --network: a name must be an existing network (sandkit network create).
  if (!(await Network.list()).some((n) => n.name === mode)) {
    throw new SandboxOptionsError(
      'network',
      `expected none, host or the name of a network (sandkit network ls), got ${JSON.stringify(mode)}`
    );
  }
  return Network.create({ name: mode });
}

async function doctor(): Promise<number> {
  const report = await probeHost();
  console.log(JSON.stringify(report, null, 2));
  return report.problems.length === 0 ? 0 : 1;
}

function parseMount(spec: string): MountOptions {
  const [source, target, mode] = spec.split(':');
  return { source: source ?? '', target: target ?? source ?? '', readonly: mode !== 'rw' };
}

function splitEnv(pair: string): [string, string] {
  const i = pair.indexOf('=');
  return i < 0 ? [pair, process.env[pair] ?? ''] : [pair.slice(0, i), pair.slice(i + 1)];
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`sandkit: ${err instanceof SandboxError ? err.message : ((err as Error)?.stack ?? String(err))}`);
    process.exitCode = err instanceof SandboxError && err.code === 'ERR_SANDBOX_OPTIONS' ? 2 : 125;
  }
);

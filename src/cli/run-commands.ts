import { constants } from 'node:os';
import { Sandbox } from '../sandbox/sandbox.js';
import type { MountOptions, NetworkMode } from '../sandbox/options.js';
import { Network } from '../network/network.js';
import type { NetworkAttachOptions } from '../network/network-link.js';
import type { PortMapping } from '../network/port-proxy.js';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { CliUsageError, defineCommand, type CommandContext, type OptionSpecs, type OptionValues } from './command.js';
import { resolveImageRef } from './image-commands.js';
import { parsePublish } from './network-commands.js';

const RUN_OPTIONS = {
  image: {
    type: 'string',
    value: 'REF',
    description:
      "a rootfs directory, an image archive or layout, or an imported image's\nname or id (default: the host's system, read-only)",
  },
  network: {
    type: 'string',
    value: 'none|host|NAME',
    description:
      "none: loopback only (default); host: the host's network (unsafe);\na name: a network made with sandkit network create (root)",
  },
  publish: {
    type: 'string',
    short: 'p',
    multiple: true,
    value: '[ADDR:][HOSTPORT:]PORT[/udp]',
    description:
      'publish a sandbox port on the host (without HOSTPORT a free one, printed);\nTCP and UDP into the loopback-only sandbox itself unless --network\nnames a network',
  },
  hostname: { type: 'string', value: 'NAME', description: 'the sandbox host name (default: sandbox)' },
  env: { type: 'string', short: 'e', multiple: true, value: 'KEY=VALUE', description: 'set a variable' },
  workdir: { type: 'string', short: 'w', aliases: ['cwd'], value: 'DIR', description: 'working directory inside' },
  mount: {
    type: 'string',
    multiple: true,
    value: 'SRC:DST[:rw]',
    description: 'bind a host path (read-only unless :rw)',
  },
  user: { type: 'string', short: 'u', value: 'UID|NAME', description: 'run as this user inside' },
} as const satisfies OptionSpecs;

const SNAPSHOT_OPTIONS = {
  ...RUN_OPTIONS,
  name: { type: 'string', value: 'NAME', description: 'name the snapshot in the store' },
  export: { type: 'string', value: 'FILE.oci.tar', description: 'also write the snapshot as an OCI archive' },
} as const satisfies OptionSpecs;

/** `sandkit run`. */
export const runCommand = defineCommand({
  name: 'run',
  summary: 'run a command in a fresh sandbox',
  usage: '[options] [IMAGE] -- COMMAND [ARG...]',
  options: RUN_OPTIONS,
  stopAtPositional: true,
  run: (ctx) => runInSandbox(ctx),
});

/** `sandkit snapshot`. */
export const snapshotCommand = defineCommand({
  name: 'snapshot',
  summary: "run a command, then snapshot the sandbox's files into the store",
  usage: '[options] [IMAGE] -- COMMAND [ARG...]',
  options: SNAPSHOT_OPTIONS,
  stopAtPositional: true,
  run: (ctx) => runInSandbox(ctx, ctx.values),
});

/** The image and the command: `[IMAGE] -- COMMAND...`, `IMAGE COMMAND...` or `--image IMAGE -- COMMAND...`. */
function imageAndCommand(ctx: CommandContext<typeof RUN_OPTIONS>): { image: string | undefined; argv: string[] } {
  const [positional] = ctx.positionals;
  if (positional !== undefined && ctx.values.image !== undefined)
    throw new CliUsageError(`both --image ${ctx.values.image} and an image ${positional} given`, ctx.path);
  const argv = ctx.rest;
  if (argv.length === 0) throw new CliUsageError('no command given', ctx.path);
  return { image: positional ?? ctx.values.image, argv };
}

async function runInSandbox(
  ctx: CommandContext<typeof RUN_OPTIONS>,
  snapshot?: OptionValues<typeof SNAPSHOT_OPTIONS>
): Promise<number> {
  const { values } = ctx;
  const { image, argv } = imageAndCommand(ctx);
  const publish = (values.publish ?? []).map(parsePublish);
  const net = await networkFor(values.network, publish);
  const sandbox = new Sandbox({
    image: await resolveImageRef(image, true),
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
    const proc = sandbox.spawn(argv, {
      env: Object.fromEntries((values.env ?? []).map(splitEnv)),
      ...(values.workdir ? { cwd: values.workdir } : {}),
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
      const named = snapshot.name ? { name: snapshot.name } : {};
      const snap = await sandbox.snapshot(named);
      if (snapshot.export) await snap.export(snapshot.export, named);
      console.error(`snapshot ${snap.id}${snapshot.export ? ` exported to ${snapshot.export}` : ''}`);
    }
    if (result.signal) return 128 + (constants.signals[result.signal] ?? 0);
    return result.exitCode ?? 1;
  } finally {
    await sandbox.destroy();
    await net?.destroy();
  }
}

/**
 * The network to attach to (left after the run): `--network <name>`. Without one, TCP and UDP
 * ports are published into the loopback-only sandbox itself (rootless too).
 */
async function networkFor(mode: string | undefined, publish: PortMapping[]): Promise<Network | undefined> {
  if (mode === 'host' && publish.length > 0)
    throw new SandboxOptionsError('publish', "a sandbox on --network host already listens on the host's ports");
  if (mode === 'host') return undefined;
  if (mode === undefined || mode === 'none') return undefined;
  // Like docker run --network: a name must be an existing network (sandkit network create).
  if (!(await Network.list()).some((n) => n.name === mode)) {
    throw new SandboxOptionsError(
      'network',
      `expected none, host or the name of a network (sandkit network ls), got ${JSON.stringify(mode)}`
    );
  }
  return Network.create({ name: mode });
}

function parseMount(spec: string): MountOptions {
  const [source, target, mode] = spec.split(':');
  return { source: source ?? '', target: target ?? source ?? '', readonly: mode !== 'rw' };
}

function splitEnv(pair: string): [string, string] {
  const i = pair.indexOf('=');
  return i < 0 ? [pair, process.env[pair] ?? ''] : [pair.slice(0, i), pair.slice(i + 1)];
}

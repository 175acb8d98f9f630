import { constants } from 'node:os';
import { Sandbox } from '../sandbox/sandbox.js';
import type { NetworkMode } from '../sandbox/options.js';
import type { SpawnResult } from '../process/spawn-result.js';
import { Network } from '../network/network.js';
import type { NetworkAttachOptions } from '../network/network-link.js';
import type { PortMapping } from '../network/port-proxy.js';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { CliUsageError, defineCommand, type CommandContext, type OptionSpecs, type OptionValues } from './command.js';
import { resolveImageRef } from './image-commands.js';
import { parsePublish } from './network-commands.js';
import { hostTerminal } from './host-terminal.js';
import { envOf, labelsOf, parseBind, sandboxLimitsOf, spawnLimitsOf, userOf } from './run-options.js';

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
  env: {
    type: 'string',
    short: 'e',
    multiple: true,
    value: 'KEY[=VALUE]',
    description: "set a variable (KEY alone: the host's value)",
  },
  'env-file': {
    type: 'string',
    multiple: true,
    value: 'FILE',
    description: 'read variables from a file: KEY=VALUE lines, # comments',
  },
  volume: {
    type: 'string',
    short: 'v',
    multiple: true,
    value: 'SRC:DST[:ro|rw]',
    description: "bind a host path, writable unless :ro (Docker's -v)",
  },
  mount: {
    type: 'string',
    multiple: true,
    value: 'SRC:DST[:ro|rw]',
    description: 'bind a host path, read-only unless :rw',
  },
  workdir: { type: 'string', short: 'w', aliases: ['cwd'], value: 'DIR', description: 'working directory inside' },
  user: {
    type: 'string',
    short: 'u',
    value: 'UID[:GID]|NAME',
    description: "run as this user inside (a name from the image's /etc/passwd)",
  },
  interactive: { type: 'boolean', short: 'i', description: 'keep stdin attached (a pipe or file always is)' },
  tty: { type: 'boolean', short: 't', description: 'give the program a terminal (with -i: raw mode, Ctrl-C to it)' },
  name: { type: 'string', value: 'NAME', description: 'name the sandbox (sandkit ps, exec)' },
  label: { type: 'string', short: 'l', multiple: true, value: 'KEY=VALUE', description: 'label the sandbox' },
  memory: {
    type: 'string',
    short: 'm',
    value: 'SIZE',
    description: 'memory of the whole sandbox, e.g. 256M (default 2G)',
  },
  cpus: { type: 'string', value: 'N', description: 'CPU bandwidth in cores, e.g. 0.5' },
  'pids-limit': { type: 'string', value: 'N', description: 'processes and threads at once (default 4096)' },
  disk: { type: 'string', value: 'SIZE', description: 'writable layer, /tmp, /run and /dev/shm together (default 1G)' },
  'cpu-time': { type: 'string', value: 'DURATION', description: "the command's CPU time, e.g. 2s: then 'time-limit'" },
  timeout: { type: 'string', value: 'DURATION', description: "the command's wall-clock time: then 'wall-time-limit'" },
  'output-limit': {
    type: 'string',
    value: 'SIZE',
    description: "stdout and stderr together, e.g. 1M: then 'output-limit'",
  },
  json: {
    type: 'boolean',
    description: 'print the result (status, exit code, times, memory, output) as JSON\ninstead of streaming the output',
  },
  rm: { type: 'boolean', description: 'accepted for Docker habits: a sandbox is always removed after the run' },
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
  const { values, path } = ctx;
  const { image, argv } = imageAndCommand(ctx);
  // For snapshot, --name names the snapshot (SNAPSHOT_OPTIONS); for run, the sandbox.
  const name = snapshot ? undefined : values.name;
  const labels = labelsOf(values, path);
  const mounts = [
    ...(values.volume ?? []).map((v) => parseBind(v, true, '--volume', path)),
    ...(values.mount ?? []).map((m) => parseBind(m, false, '--mount', path)),
  ];
  const env = envOf(values, path);
  const user = values.user === undefined ? undefined : userOf(values.user, path);
  const limits = sandboxLimitsOf(values, path);
  const spawnLimits = spawnLimitsOf(values, path);
  const publish = (values.publish ?? []).map((spec) => parsePublish(spec));
  const net = await networkFor(values.network, publish);
  const sandbox = new Sandbox({
    image: await resolveImageRef(image, !values.json),
    network:
      net || publish.length > 0
        ? ({ ...(net && { attach: net }), publish } satisfies NetworkAttachOptions)
        : ((values.network ?? 'none') as NetworkMode),
    ...(values.hostname !== undefined && { hostname: values.hostname }),
    ...(name !== undefined && { name }),
    ...(Object.keys(labels).length > 0 && { labels }),
    ...(Object.keys(limits).length > 0 && { limits }),
    mounts,
  });
  // Without -i a terminal's input stays with the terminal (Docker's default); a pipe or file is read.
  const attachStdin = values.interactive === true || (!process.stdin.isTTY && !values.tty);
  const terminal = values.tty ? hostTerminal(attachStdin) : undefined;
  try {
    for (const m of publish) {
      const hostPort = await sandbox.publishedPort(m.sandbox, m.protocol);
      console.error(
        `sandkit: published ${m.hostAddress ?? '127.0.0.1'}:${hostPort} -> ${m.sandbox}/${m.protocol ?? 'tcp'}`
      );
    }
    const proc = sandbox.spawn(argv, {
      env,
      ...(values.workdir !== undefined && { cwd: values.workdir }),
      ...(user !== undefined && { user }),
      ...(Object.keys(spawnLimits).length > 0 && { limits: spawnLimits }),
      stdin: attachStdin ? process.stdin : 'ignore',
      ...(!values.json && { maxBuffer: 0 }),
      ...(terminal && { tty: terminal.size() }),
    });
    terminal?.attach(proc);
    if (!values.json) {
      proc.stdout.pipe(process.stdout);
      proc.stderr.pipe(process.stderr);
    }
    const forward = (sig: NodeJS.Signals) => proc.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
    const result = await proc;
    if (values.json) console.log(JSON.stringify(result, null, 2));
    if (snapshot && result.exitCode === 0) {
      const named = snapshot.name ? { name: snapshot.name } : {};
      const snap = await sandbox.snapshot(named);
      if (snapshot.export) await snap.export(snapshot.export, named);
      console.error(`snapshot ${snap.id}${snapshot.export ? ` exported to ${snapshot.export}` : ''}`);
    }
    return exitCodeOf(result);
  } finally {
    terminal?.restore();
    if (attachStdin) process.stdin.destroy(); // what the program did not read must not hold the CLI open
    await sandbox.destroy();
    await net?.destroy();
  }
}

/**
 * Docker's exit codes: the program's, 128 + n for signal n (126/127: could not execute / not
 * found). A limit is 137, the SIGKILL it ends the program with, also when the program exited
 * on its own before that kill landed (its output past --output-limit was cut all the same).
 */
function exitCodeOf(result: SpawnResult): number {
  if (result.signal) return 128 + (constants.signals[result.signal] ?? 0);
  if (result.limitExceeded) return 128 + constants.signals.SIGKILL;
  return result.exitCode ?? 125;
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

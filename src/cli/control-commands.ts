import { parseArgs } from 'node:util';
import { constants } from 'node:os';
import { Sandbox } from '../sandbox/sandbox.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { SandboxInfo } from '../sandbox/control-protocol.js';

// ps, inspect, exec, stop and logs: sandboxes of this user owned by other processes, through
// their owners' control sockets (docs/control.md).

const HELP: Record<string, string> = {
  ps: `Usage: sandkit ps [--all] [--json] [--label KEY=VALUE]...
List this user's sandboxes that other processes own (running ones; --all: every state).`,
  inspect: `Usage: sandkit inspect ID|NAME...
Print what a sandbox's owner says about it, with its resource use, as JSON.`,
  exec: `Usage: sandkit exec [-i] [-e KEY=VALUE]... [-w DIR] [-u USER] ID|NAME -- COMMAND [ARGS...]
Run a command in a running sandbox another process owns. -i: forward stdin.
Exit status: the command's, 128+n when a signal ended it, 125 when sandkit failed.`,
  stop: `Usage: sandkit stop ID|NAME...
Ask each sandbox's owner to destroy it.`,
  logs: `Usage: sandkit logs ID|NAME
Print what a sandbox's programs wrote, if its owner keeps it (SandboxOptions.keepLogs).`,
};

/** Exit status of a wrong command line (as the rest of the CLI). */
const USAGE_ERROR = 2;

type Command = (args: string[]) => Promise<number>;

function parse(
  command: string,
  args: string[],
  options: NonNullable<Parameters<typeof parseArgs>[0]>['options']
): { values: Record<string, unknown>; positionals: string[] } | undefined {
  try {
    return parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, ...options } });
  } catch (err) {
    console.error(`sandkit ${command}: ${(err as Error).message.split('\n')[0]} (see sandkit ${command} --help)`);
    return undefined;
  }
}

function helped(command: string, values: Record<string, unknown>): boolean {
  if (!values.help) return false;
  console.log(HELP[command]);
  return true;
}

async function ps(args: string[]): Promise<number> {
  const parsed = parse('ps', args, {
    all: { type: 'boolean', short: 'a' },
    json: { type: 'boolean' },
    label: { type: 'string', short: 'l', multiple: true },
  });
  if (!parsed) return USAGE_ERROR;
  const { values, positionals } = parsed;
  if (helped('ps', values)) return 0;
  if (positionals.length > 0) return usage('ps', `unexpected argument ${positionals[0]}`);
  const labels: Record<string, string> = {};
  for (const pair of (values.label as string[] | undefined) ?? []) {
    const i = pair.indexOf('=');
    if (i < 1) return usage('ps', `--label expects KEY=VALUE, got ${JSON.stringify(pair)}`);
    labels[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const live = new Set(['starting', 'running', 'paused']);
  const list = (await Sandbox.list({ labels })).filter((s) => values.all || live.has(s.state));
  if (values.json) {
    console.log(JSON.stringify(list, null, 2));
    return 0;
  }
  const rows = [
    ['ID', 'NAME', 'STATE', 'IMAGE', 'OWNER', 'CREATED', 'LABELS'],
    ...list.map((s) => [
      s.id,
      s.name ?? '',
      s.state,
      s.image,
      String(s.ownerPid),
      ago(s.createdAt),
      Object.entries(s.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    console.log(
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd()
    );
  return 0;
}

async function inspect(args: string[]): Promise<number> {
  const parsed = parse('inspect', args, {});
  if (!parsed) return USAGE_ERROR;
  if (helped('inspect', parsed.values)) return 0;
  if (parsed.positionals.length === 0) return usage('inspect', 'expected a sandbox id or name');
  const out: Array<SandboxInfo & { stats: unknown }> = [];
  for (const target of parsed.positionals) {
    const sb = await Sandbox.connect(target);
    try {
      out.push({ ...(await sb.info()), stats: await sb.stats() });
    } finally {
      sb.close();
    }
  }
  console.log(JSON.stringify(out, null, 2));
  return 0;
}

async function exec(args: string[]): Promise<number> {
  const parsed = parse('exec', args, {
    interactive: { type: 'boolean', short: 'i' },
    env: { type: 'string', short: 'e', multiple: true },
    workdir: { type: 'string', short: 'w' },
    user: { type: 'string', short: 'u' },
  });
  if (!parsed) return USAGE_ERROR;
  const { values, positionals } = parsed;
  if (helped('exec', values)) return 0;
  const [target, ...command] = positionals;
  if (!target) return usage('exec', 'expected a sandbox id or name');
  if (command.length === 0) return usage('exec', 'expected a command after the sandbox (ID -- COMMAND)');
  const env: Record<string, string> = {};
  for (const pair of (values.env as string[] | undefined) ?? []) {
    const i = pair.indexOf('=');
    if (i < 0) env[pair] = process.env[pair] ?? '';
    else env[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const sb = await Sandbox.connect(target);
  try {
    const user = values.user as string | undefined;
    const proc = sb.spawn(command, {
      env,
      ...(values.workdir !== undefined && { cwd: values.workdir as string }),
      ...(user !== undefined && { user: /^\d+$/.test(user) ? Number(user) : user }),
      stdin: values.interactive === true,
    });
    if (values.interactive) process.stdin.pipe(proc.stdin);
    proc.stdout.pipe(process.stdout);
    proc.stderr.pipe(process.stderr);
    const forward = (sig: NodeJS.Signals) => proc.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
    const result = await proc;
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
    if (values.interactive) process.stdin.unpipe(proc.stdin).pause();
    if (result.execError) {
      console.error(`sandkit exec: ${result.execError.message}`);
      return result.execError.errnoCode === 'ENOENT' ? 127 : 126;
    }
    if (result.signal) return 128 + (constants.signals[result.signal] ?? 0);
    return result.exitCode ?? 125;
  } finally {
    sb.close();
  }
}

async function stop(args: string[]): Promise<number> {
  const parsed = parse('stop', args, {});
  if (!parsed) return USAGE_ERROR;
  if (helped('stop', parsed.values)) return 0;
  if (parsed.positionals.length === 0) return usage('stop', 'expected a sandbox id or name');
  let failed = 0;
  for (const target of parsed.positionals) {
    try {
      const sb = await Sandbox.connect(target);
      await sb.stop();
      sb.close();
      console.log(sb.name ?? sb.id);
    } catch (err) {
      if (!(err instanceof SandboxError)) throw err;
      console.error(`sandkit stop: ${err.message}`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

async function logs(args: string[]): Promise<number> {
  const parsed = parse('logs', args, {});
  if (!parsed) return USAGE_ERROR;
  if (helped('logs', parsed.values)) return 0;
  if (parsed.positionals.length !== 1) return usage('logs', 'expected one sandbox id or name');
  const sb = await Sandbox.connect(parsed.positionals[0]!);
  try {
    const info = await sb.info();
    if (info.keepLogs === 0) {
      console.error(`sandkit logs: ${info.name ?? info.id} keeps no logs (its owner did not set keepLogs)`);
      return 1;
    }
    for (const chunk of await sb.logs()) (chunk.fd === 1 ? process.stdout : process.stderr).write(chunk.data);
    return 0;
  } finally {
    sb.close();
  }
}

function usage(command: string, problem: string): number {
  console.error(`sandkit ${command}: ${problem} (see sandkit ${command} --help)`);
  return USAGE_ERROR;
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** `sandkit ps | inspect | exec | stop | logs`, by name. */
export const controlCommands: Record<string, Command> = { ps, inspect, exec, stop, logs };

/** One-line summaries for the CLI's usage text. */
export const CONTROL_USAGE = `  sandkit ps [--all] [--json] [--label K=V]      list this user's sandboxes, across processes
  sandkit inspect ID|NAME...                     a sandbox's details and resource use, as JSON
  sandkit exec [-i] ID|NAME -- <command>         run a command in a sandbox another process owns
  sandkit stop ID|NAME...                        ask the owner to destroy a sandbox
  sandkit logs ID|NAME                           what its programs printed (when the owner keeps logs)`;

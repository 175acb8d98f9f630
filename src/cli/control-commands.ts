import { constants } from 'node:os';
import { Sandbox } from '../sandbox/sandbox.js';
import { SandboxError } from '../errors/sandbox-error.js';
import type { SandboxInfo } from '../sandbox/control-protocol.js';
import { CliUsageError, defineCommand } from './command.js';
import { hostTerminal } from './host-terminal.js';

// ps, inspect, exec, stop and logs: this user's sandboxes, owned by any process, reached
// through their owners' control sockets (docs/control.md).

/** `sandkit ps`. */
export const psCommand = defineCommand({
  name: 'ps',
  summary: "list this user's sandboxes, across processes",
  description: 'Running ones (starting, running, paused) unless --all.',
  options: {
    all: { type: 'boolean', short: 'a', description: 'every state: also created, failed and destroying' },
    json: { type: 'boolean', description: 'print the list as JSON' },
    label: {
      type: 'string',
      short: 'l',
      multiple: true,
      value: 'KEY=VALUE',
      description: 'only sandboxes with this label',
    },
  },
  run: async ({ values, positionals, path }) => {
    if (positionals.length > 0) throw new CliUsageError(`unexpected argument ${positionals[0]}`, path);
    const labels: Record<string, string> = {};
    for (const pair of values.label ?? []) {
      const i = pair.indexOf('=');
      if (i < 1) throw new CliUsageError(`--label expects KEY=VALUE, got ${JSON.stringify(pair)}`, path);
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
  },
});

/** `sandkit inspect`. */
export const inspectCommand = defineCommand({
  name: 'inspect',
  summary: "a sandbox's details and resource use, as JSON",
  usage: 'ID|NAME...',
  run: async ({ positionals, path }) => {
    if (positionals.length === 0) throw new CliUsageError('expected a sandbox id or name', path);
    const out: Array<SandboxInfo & { stats: unknown }> = [];
    for (const target of positionals) {
      const sb = await Sandbox.connect(target);
      try {
        out.push({ ...(await sb.info()), stats: await sb.stats() });
      } finally {
        sb.close();
      }
    }
    console.log(JSON.stringify(out, null, 2));
    return 0;
  },
});

/** `sandkit exec`. */
export const execCommand = defineCommand({
  name: 'exec',
  summary: 'run a command in a sandbox another process owns',
  usage: '[options] ID|NAME [--] COMMAND [ARG...]',
  description:
    "Exit status: the command's; 128+n when signal n ended it; 126/127 when it cannot run; 125 when sandkit failed.",
  stopAtPositional: true,
  options: {
    interactive: { type: 'boolean', short: 'i', description: 'forward stdin to the command' },
    tty: {
      type: 'boolean',
      short: 't',
      description: 'give the command a terminal (with -i: this terminal in raw mode, as docker exec -it)',
    },
    env: {
      type: 'string',
      short: 'e',
      multiple: true,
      value: 'KEY=VALUE',
      description: 'set a variable (KEY alone: from here)',
    },
    workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory inside' },
    user: { type: 'string', short: 'u', value: 'USER', description: 'run as this user (a name or a uid)' },
  },
  run: async ({ values, positionals, rest, path }) => {
    const [target] = positionals;
    if (!target) throw new CliUsageError('expected a sandbox id or name', path);
    if (rest.length === 0) throw new CliUsageError('expected a command after the sandbox (ID -- COMMAND)', path);
    const env: Record<string, string> = {};
    for (const pair of values.env ?? []) {
      const i = pair.indexOf('=');
      if (i < 0) env[pair] = process.env[pair] ?? '';
      else env[pair.slice(0, i)] = pair.slice(i + 1);
    }
    const sb = await Sandbox.connect(target);
    const terminal = values.tty ? hostTerminal(values.interactive === true) : undefined;
    try {
      const user = values.user;
      const proc = sb.spawn(rest, {
        env,
        ...(values.workdir !== undefined && { cwd: values.workdir }),
        ...(user !== undefined && { user: /^\d+$/.test(user) ? Number(user) : user }),
        stdin: values.interactive === true,
        ...(terminal && { tty: terminal.size() }),
      });
      terminal?.attach(proc);
      if (values.interactive) process.stdin.pipe(proc.stdin);
      proc.stdout.pipe(process.stdout);
      proc.stderr.pipe(process.stderr);
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      const forward = (sig: NodeJS.Signals) => proc.kill(sig);
      for (const sig of signals) process.on(sig, forward);
      const result = await proc;
      for (const sig of signals) process.off(sig, forward);
      if (values.interactive) process.stdin.unpipe(proc.stdin).pause();
      if (result.execError) {
        console.error(`sandkit exec: ${result.execError.message}`);
        return result.execError.errnoCode === 'ENOENT' ? 127 : 126;
      }
      if (result.signal) return 128 + (constants.signals[result.signal] ?? 0);
      return result.exitCode ?? 125;
    } finally {
      terminal?.restore();
      sb.close();
    }
  },
});

/** `sandkit stop`. */
export const stopCommand = defineCommand({
  name: 'stop',
  summary: 'ask the owner to destroy a sandbox',
  usage: 'ID|NAME...',
  run: async ({ positionals, path }) => {
    if (positionals.length === 0) throw new CliUsageError('expected a sandbox id or name', path);
    let failed = 0;
    for (const target of positionals) {
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
  },
});

/** `sandkit logs`. */
export const logsCommand = defineCommand({
  name: 'logs',
  summary: 'what its programs printed, when the owner keeps logs',
  usage: 'ID|NAME',
  description:
    'Only for sandboxes made with SandboxOptions.keepLogs: the last output, stdout and stderr apart, in order.',
  run: async ({ positionals, path }) => {
    if (positionals.length !== 1) throw new CliUsageError('expected one sandbox id or name', path);
    const sb = await Sandbox.connect(positionals[0]!);
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
  },
});

/** The control commands, in the order the command list shows them. */
export const controlCommands = [psCommand, inspectCommand, execCommand, stopCommand, logsCommand];

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

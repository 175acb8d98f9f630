#!/usr/bin/env node
import { SandboxError } from '../errors/sandbox-error.js';
import {
  CliUsageError,
  PROGRAM,
  dispatch,
  findCommand,
  helpText,
  usageLine,
  type CommandDefinition,
} from './command.js';
import { doctorCommand } from './doctor-commands.js';
import { imageCommands } from './image-commands.js';
import { networkCommands } from './network-commands.js';
import { runCommand, snapshotCommand } from './run-commands.js';
import { controlCommands } from './control-commands.js';
import { submitCommand, workerCommand } from './queue-commands.js';

const VERSION = '0.1.0';

/** Every command, one line each; a module exports its definition (see command.ts). */
const COMMANDS: CommandDefinition[] = [
  runCommand,
  snapshotCommand,
  imageCommands,
  networkCommands,
  doctorCommand,
  ...controlCommands,
  workerCommand,
  submitCommand,
  {
    name: 'help',
    summary: 'show the help of a command',
    usage: '[COMMAND...]',
    run: async ({ positionals }) => {
      const { def, path } = findCommand(ROOT, positionals);
      console.log(helpText(def, path));
      return 0;
    },
  },
];

const ROOT: CommandDefinition = {
  name: PROGRAM,
  summary: 'Run programs in Linux sandboxes (namespaces, an overlay root, cgroup limits).',
  usage: 'COMMAND [options]',
  subcommands: COMMANDS,
};

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === '-v') {
    console.log(`${PROGRAM} ${VERSION}`);
    return 0;
  }
  return dispatch(ROOT, argv);
}

/** Node's own parseArgs errors (from a command that reads its own arguments): one line, like ours. */
function nodeUsageError(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const first = (err as Error).message.split('. ')[0] ?? '';
  return first.replace(/^Unknown option '([^']+)'/, 'unknown option $1');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliUsageError) {
      console.error(usageLine(err));
      process.exitCode = 2;
      return;
    }
    const parseError = nodeUsageError(err);
    if (parseError !== undefined) {
      console.error(`${PROGRAM}: ${parseError} for ${process.argv[2]} (see ${PROGRAM} ${process.argv[2]} --help)`);
      process.exitCode = 2;
      return;
    }
    // Docker's convention: 125 when sandkit itself failed; options it rejects are usage errors.
    const detail = process.env.SANDKIT_DEBUG ? (err as Error)?.stack : undefined;
    console.error(`${PROGRAM}: ${detail ?? (err instanceof Error ? err.message : String(err))}`);
    process.exitCode = err instanceof SandboxError && err.code === 'ERR_SANDBOX_OPTIONS' ? 2 : 125;
  }
);

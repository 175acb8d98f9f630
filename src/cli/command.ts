/**
 * The CLI's command table: each command is a value (name, summary, options, handler) that
 * main.ts lists. One parser reads every command's flags, so every command has `--help`, and a
 * wrong flag or command is one line naming it and the `--help` to read, exit 2.
 */

/** One flag of a command. */
export interface OptionSpec {
  /** `'string'` takes a value (`--memory 64M`, `--memory=64M`, `-m64M`); `'boolean'` does not. */
  type: 'string' | 'boolean';
  /** One-letter form, e.g. `'e'` for `-e`. */
  short?: string;
  /** Other long names, e.g. `['cwd']` for `--workdir`. */
  aliases?: string[];
  /** Repeatable: the values collect in an array. */
  multiple?: boolean;
  /** The value's placeholder in help, e.g. `KEY=VALUE`. */
  value?: string;
  /** One line (or a few) for help. */
  description: string;
}

/** A command's flags by long name. */
export type OptionSpecs = Record<string, OptionSpec>;

/** What the parser read for a command's flags, typed after its specs. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string;
};

/** What a handler gets. */
export interface CommandContext<O extends OptionSpecs> {
  /** The flags given. */
  values: OptionValues<O>;
  /** Arguments before `--` (or, with `stopAtPositional`, the first one). */
  positionals: string[];
  /** Arguments after `--` (or, with `stopAtPositional`, after the first positional), untouched. */
  rest: string[];
  /** The command's words, e.g. `'image ls'`, for messages. */
  path: string;
}

/** One command (or a group of subcommands). */
export interface CommandDefinition<O extends OptionSpecs = OptionSpecs> {
  /** The word that selects it. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** What follows the command's words in its usage line, e.g. `[options] -- COMMAND [ARG...]`. */
  usage?: string;
  /** Paragraphs after the usage line in help. */
  description?: string;
  /** Its flags (`-h`/`--help` comes with every command). */
  options?: O;
  /** Like `docker run IMAGE CMD -x`: the first positional ends the flags; the rest is the command's. */
  stopAtPositional?: boolean;
  /** A group: `sandkit image ls` is the subcommand `ls` of `image`. */
  subcommands?: CommandDefinition[];
  /** Runs the command; resolves to the exit code. */
  run?(ctx: CommandContext<O>): Promise<number>;
  /** A command that parses its own arguments (given unparsed); help still comes from here. */
  passthrough?(args: string[]): Promise<number>;
}

/** A command definition with its flags' types inferred: `export const x = defineCommand({...})`. */
export function defineCommand<const O extends OptionSpecs>(def: CommandDefinition<O>): CommandDefinition {
  return def as unknown as CommandDefinition;
}

/** A wrong flag, command or value: printed as one line with a pointer to `--help`, exit 2. */
export class CliUsageError extends Error {
  constructor(
    message: string,
    /** The command's words whose `--help` explains it (empty: the top level). */
    readonly path = ''
  ) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** The program's name in messages. */
export const PROGRAM = 'sandkit';

/**
 * One line for a usage error: `sandkit: unknown option --bogus for run (see sandkit run --help)`,
 * or for a bad value `sandkit run: --memory: expected a size ... (see sandkit run --help)`.
 */
export function usageLine(err: CliUsageError): string {
  const help = [PROGRAM, err.path, '--help'].filter(Boolean).join(' ');
  if (!err.path) return `${PROGRAM}: ${err.message} (see ${help})`;
  if (err.message.startsWith('unknown ')) return `${PROGRAM}: ${err.message} for ${err.path} (see ${help})`;
  return `${PROGRAM} ${err.path}: ${err.message} (see ${help})`;
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

interface Parsed {
  values: Record<string, string | boolean | string[]>;
  positionals: string[];
  rest: string[];
}

/** Reads `args` against `def`'s flags (GNU/Docker style: `--x v`, `--x=v`, `-xv`, `-it`, `--`). */
export function parseOptions(def: CommandDefinition, args: string[], path: string): Parsed {
  const specs: OptionSpecs = { help: HELP, ...def.options };
  const byLong = new Map<string, string>();
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    byLong.set(name, name);
    for (const alias of spec.aliases ?? []) byLong.set(alias, name);
    if (spec.short) byShort.set(spec.short, name);
  }
  const out: Parsed = { values: {}, positionals: [], rest: [] };
  const set = (name: string, value: string | boolean) => {
    const spec = specs[name]!;
    if (spec.multiple) ((out.values[name] ??= []) as string[]).push(String(value));
    else out.values[name] = value;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const valueFor = (flag: string, inline: string | undefined): string => {
      if (inline !== undefined) return inline;
      if (i + 1 >= args.length) throw new CliUsageError(`option ${flag} needs a value`, path);
      return args[++i]!;
    };
    if (arg === '--') {
      out.rest = args.slice(i + 1);
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const flag = eq < 0 ? arg : arg.slice(0, eq);
      const name = byLong.get(flag.slice(2));
      if (name === undefined) throw new CliUsageError(`unknown option ${flag}`, path);
      if (specs[name]!.type === 'boolean') {
        if (eq >= 0) throw new CliUsageError(`option ${flag} takes no value`, path);
        set(name, true);
      } else set(name, valueFor(flag, eq < 0 ? undefined : arg.slice(eq + 1)));
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // A group of one-letter flags: booleans until one takes a value (the group's rest or the next argument).
      for (let j = 1; j < arg.length; j++) {
        const name = byShort.get(arg[j]!);
        if (name === undefined) throw new CliUsageError(`unknown option -${arg[j]}`, path);
        if (specs[name]!.type === 'boolean') {
          set(name, true);
          continue;
        }
        const inline = arg.slice(j + 1);
        set(name, valueFor(`-${arg[j]}`, inline === '' ? undefined : inline.replace(/^=/, '')));
        break;
      }
      continue;
    }
    out.positionals.push(arg);
    if (def.stopAtPositional) {
      out.rest = args[i + 1] === '--' ? args.slice(i + 2) : args.slice(i + 1);
      break;
    }
  }
  return out;
}

/** The help text of a command: usage, description, options, subcommands. */
export function helpText(def: CommandDefinition, path: string): string {
  const lines: string[] = [];
  const words = [PROGRAM, path].filter(Boolean).join(' ');
  const usage = def.usage ?? (def.subcommands ? 'COMMAND [options]' : def.options ? '[options]' : '');
  lines.push(`Usage: ${words}${usage ? ` ${usage}` : ''}`, '', def.summary);
  if (def.description) lines.push('', def.description);
  if (def.subcommands?.length) {
    lines.push('', 'Commands:');
    const width = Math.max(...def.subcommands.map((c) => c.name.length));
    for (const c of def.subcommands) lines.push(`  ${c.name.padEnd(width)}  ${c.summary}`);
    lines.push('', `Run '${words} COMMAND --help' for a command's options.`);
  }
  const specs: OptionSpecs = { ...def.options, help: HELP };
  const left = Object.entries(specs).map(([name, spec]) => {
    const longs = [name, ...(spec.aliases ?? [])].map((n) => `--${n}`).join(', ');
    const value = spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : '';
    return `${spec.short ? `-${spec.short}, ` : '    '}${longs}${value}`;
  });
  const width = Math.min(34, Math.max(...left.map((l) => l.length)));
  lines.push('', 'Options:');
  Object.values(specs).forEach((spec, k) => {
    const [first = '', ...more] = `${spec.description}${spec.multiple ? ' (repeatable)' : ''}`.split('\n');
    const l = left[k]!;
    if (l.length > width) lines.push(`  ${l}`, `  ${''.padEnd(width)}  ${first}`);
    else lines.push(`  ${l.padEnd(width)}  ${first}`);
    for (const m of more) lines.push(`  ${''.padEnd(width)}  ${m}`);
  });
  return lines.join('\n');
}

/** Finds the command named by `words` (e.g. `['image', 'ls']`) under `root`, or throws a usage error. */
export function findCommand(root: CommandDefinition, words: string[]): { def: CommandDefinition; path: string } {
  let def = root;
  const path: string[] = [];
  for (const word of words) {
    const next = def.subcommands?.find((c) => c.name === word);
    if (!next) throw new CliUsageError(`unknown command ${word}`, path.join(' '));
    def = next;
    path.push(word);
  }
  return { def, path: path.join(' ') };
}

/**
 * Runs `args` against the command tree under `root`: picks the (sub)command, prints its help
 * for `-h`/`--help`, parses its flags and calls its handler. Usage errors are thrown as
 * {@link CliUsageError}; the caller prints them.
 */
export async function dispatch(root: CommandDefinition, args: string[]): Promise<number> {
  let def = root;
  const path: string[] = [];
  let i = 0;
  while (def.subcommands && !def.passthrough && i < args.length) {
    const word = args[i]!;
    const next = def.subcommands.find((c) => c.name === word);
    if (!next) {
      if (def.run || word === '-h' || word === '--help') break;
      throw new CliUsageError(`unknown ${word.startsWith('-') ? 'option' : 'command'} ${word}`, path.join(' '));
    }
    def = next;
    path.push(word);
    i++;
  }
  const rest = args.slice(i);
  const where = path.join(' ');
  if (def.passthrough) return passthrough(def, rest, where);
  if (!def.run) {
    const asked = rest.length > 0; // only -h/--help can be left here
    (asked ? console.log : console.error)(helpText(def, where));
    return asked ? 0 : 2;
  }
  const parsed = parseOptions(def, rest, where);
  if (parsed.values.help) {
    console.log(helpText(def, where));
    return 0;
  }
  return def.run({ ...parsed, values: parsed.values as OptionValues<OptionSpecs>, path: where });
}

/** A command that reads its own arguments; `--help` (of it or of a listed subcommand) is answered here. */
function passthrough(def: CommandDefinition, args: string[], where: string): Promise<number> {
  const end = args.indexOf('--');
  const flags = end < 0 ? args : args.slice(0, end);
  if (flags.includes('-h') || flags.includes('--help') || (def.subcommands && args.length === 0)) {
    const sub = def.subcommands?.find((c) => c.name === args[0]);
    const text = sub ? helpText(sub, `${where} ${sub.name}`) : helpText(def, where);
    if (args.length === 0) {
      console.error(text);
      return Promise.resolve(2);
    }
    console.log(text);
    return Promise.resolve(0);
  }
  return def.passthrough!(args);
}

/**
 * A command written as `async function xCommand(args: string[]): Promise<number>` (it reads its
 * own arguments), listed in the table with one line: `legacyCommand('ps', 'list sandboxes', psCommand)`.
 */
export function legacyCommand(
  name: string,
  summary: string,
  handler: (args: string[]) => Promise<number>,
  more: Pick<CommandDefinition, 'usage' | 'description' | 'subcommands'> = {}
): CommandDefinition {
  return { name, summary, ...more, passthrough: handler };
}

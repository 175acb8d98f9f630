import { describe, expect, it } from 'vitest';
import { CliUsageError, defineCommand, parseOptions, usageLine } from '../../src/cli/command.js';

const run = defineCommand({
  name: 'run',
  summary: 'x',
  stopAtPositional: true,
  options: {
    env: { type: 'string', short: 'e', multiple: true, description: '' },
    workdir: { type: 'string', short: 'w', aliases: ['cwd'], description: '' },
    interactive: { type: 'boolean', short: 'i', description: '' },
    tty: { type: 'boolean', short: 't', description: '' },
    memory: { type: 'string', short: 'm', description: '' },
  },
});

const parse = (args: string[]) => parseOptions(run, args, 'run');

describe('CLI option parser', () => {
  it('reads long, =, short, grouped and attached forms', () => {
    expect(parse(['-it', '-eA=1', '--env', 'B=2', '--env=C=3', '-m', '64M', '--cwd', '/x', '--', 'ls'])).toEqual({
      values: { interactive: true, tty: true, env: ['A=1', 'B=2', 'C=3'], memory: '64M', workdir: '/x' },
      positionals: [],
      rest: ['ls'],
    });
  });

  it('stops at the first positional: the rest belongs to the command', () => {
    expect(parse(['-i', 'img', 'ls', '-la'])).toMatchObject({ positionals: ['img'], rest: ['ls', '-la'] });
    expect(parse(['img', '--', 'ls', '--bogus'])).toMatchObject({ positionals: ['img'], rest: ['ls', '--bogus'] });
  });

  it.for([
    [['--bogus'], 'unknown option --bogus'],
    [['-x'], 'unknown option -x'],
    [['-ix'], 'unknown option -x'],
    [['--memory'], 'option --memory needs a value'],
    [['--tty=1'], 'option --tty takes no value'],
  ])('%j is a usage error: %s', ([args, message]) => {
    expect(() => parse(args as string[])).toThrow(new CliUsageError(message as string, 'run'));
  });

  it('prints one line naming the flag and the help to read', () => {
    expect(usageLine(new CliUsageError('unknown option --bogus', 'run'))).toBe(
      'sandkit: unknown option --bogus for run (see sandkit run --help)'
    );
    expect(usageLine(new CliUsageError('unknown command frob'))).toBe(
      'sandkit: unknown command frob (see sandkit --help)'
    );
  });
});

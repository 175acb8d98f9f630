import { helperPath } from '../helper/helper-path.js';

/**
 * The file and arguments that run `command` as a child that dies with this Node process
 * (PR_SET_PDEATHSIG, armed by `sandkit-helper run-owned`): Node's child_process cannot arm
 * one, and a host tool sandkit started (cp of a snapshot, ip, nft) must not run on as an
 * orphan after a kill -9 of Node. Exit status 127 means the command is missing.
 */
export function ownedCommand(command: string, args: readonly string[]): [string, string[]] {
  return [helperPath(), ['run-owned', String(process.pid), command, ...args]];
}

/** Exit status of `run-owned` when the command does not exist. */
export const OWNED_COMMAND_MISSING = 127;

import { rmSync } from 'node:fs';
import type { SpawnedReply } from '../helper/protocol.js';
import type { PreparedSpawn } from '../process/sandbox-process.js';
import { stdinFileOf } from '../process/spawn-request.js';
import type { ResolvedSpawnOptions } from '../process/spawn-options.js';
import { prepareSpawn, type SpawnPreparation } from './spawn-preparation.js';

/** A sandbox's first spawn, waiting for the create it travels with. */
export interface FirstSpawn {
  id: string;
  options: ResolvedSpawnOptions;
  resolve(prepared: PreparedSpawn): void;
  reject(error: unknown): void;
}

/** The first spawn, prepared for the create (or refused, then it goes on its own way). */
export interface TakenFirstSpawn {
  /** Its spawn request; undefined when preparing it failed (the spawn has its error already). */
  request: PreparedSpawn['request'] | undefined;
  /** The create left: hands the spawn its reply (undefined: the create went without it). */
  sent(reply: Promise<SpawnedReply> | undefined): void;
  /** The create failed before the spawn ran: what it left on the host goes. */
  abandon(): void;
}

/**
 * Prepares a cold sandbox's first spawn to go with its create: the sandbox's cgroup is made
 * first (the spawn's own lives inside it), then the spawn's cgroup and request, as for any
 * spawn. A spawn that cannot be prepared (an unknown user, say) fails alone, as it would have
 * after the start; the sandbox still starts. So does one aborted meanwhile, which is never sent.
 * A failure to make the sandbox's cgroup fails the start.
 */
export function takeFirstSpawn(first: FirstSpawn, on: SpawnPreparation): TakenFirstSpawn {
  on.cgroups.createSandboxCgroup(on.sandbox);
  let prepared: PreparedSpawn | undefined;
  try {
    prepared = prepareSpawn(on, first.id, first.options);
  } catch (err) {
    first.reject(err);
  }
  if (prepared && first.options.signal?.aborted) {
    first.resolve(prepared); // aborted meanwhile: it goes its own way, which never sends it
    prepared = undefined;
  }
  return {
    request: prepared?.request,
    sent: (reply) => {
      if (prepared && reply) first.resolve({ ...prepared, sent: reply });
    },
    abandon: () => {
      const stdinFile = prepared && stdinFileOf(prepared.request);
      if (stdinFile) rmSync(stdinFile, { force: true });
    },
  };
}

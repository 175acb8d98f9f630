import { constants } from 'node:os';
import { expect } from 'vitest';
import type { SpawnResult } from '../../src/index.js';
import { isRoot } from './require-feature.js';

/**
 * How an attack ended, as one word: `ok` (it worked), the errno name the probe exited with
 * (`EPERM`), or `signal:SIGSYS` when the kernel or a seccomp filter killed it.
 */
export type Outcome = string;

const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The outcome of a probe run whose exit code is an errno (`probe try-syscall`, `kill`, ...). */
export function outcomeOf(r: SpawnResult): Outcome {
  if (r.signal) return `signal:${r.signal}`;
  if (r.exitCode === 0) return 'ok';
  return errnoNames.get(r.exitCode ?? -1) ?? `exit:${r.exitCode}`;
}

/** Asserts that an attack ended in one of the `allowed` safe outcomes (never `ok`). */
export function expectRefused(r: SpawnResult, allowed: readonly Outcome[]): void {
  expect(allowed).not.toContain('ok');
  expect(outcomeOf(r), `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBeOneOf([...allowed]);
}

/** Who runs the attacks inside: root always; also an unprivileged uid when the host maps one (root host). */
export const attackers: ReadonlyArray<{ who: string; user: number }> = isRoot
  ? [
      { who: 'root inside', user: 0 },
      { who: 'uid 65534 inside', user: 65534 },
    ]
  : [{ who: 'root inside (the only mapped uid rootless)', user: 0 }];

/** "root" or "rootless": how the test run itself is privileged, for rows whose outcome depends on it. */
export const hostMode: 'root' | 'rootless' = isRoot ? 'root' : 'rootless';

/** The capability sets of a process, from its /proc/<pid>/status text. */
export function capabilitiesOf(status: string): {
  CapInh: bigint;
  CapPrm: bigint;
  CapEff: bigint;
  CapBnd: bigint;
  CapAmb: bigint;
} {
  const get = (name: string) => {
    const m = status.match(new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm'));
    if (!m) throw new Error(`no ${name} in:\n${status}`);
    return BigInt(`0x${m[1]}`);
  };
  return {
    CapInh: get('CapInh'),
    CapPrm: get('CapPrm'),
    CapEff: get('CapEff'),
    CapBnd: get('CapBnd'),
    CapAmb: get('CapAmb'),
  };
}

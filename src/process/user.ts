import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import type { UserSpec } from './spawn-options.js';

/** Numeric identity a program runs as. */
export interface ResolvedUser { uid: number; gid: number; groups: number[] }

/**
 * Resolves a user spec to ids, looking names up in the sandbox's own /etc/passwd and /etc/group
 * (`rootDirs`: the writable layer first, then the image's layers) — never the host's.
 */
export function resolveUser(spec: UserSpec, rootDirs: string[]): ResolvedUser {
  if (typeof spec === 'number') return { uid: spec, gid: spec, groups: [] };
  if (typeof spec === 'object') return { uid: spec.uid, gid: spec.gid ?? spec.uid, groups: spec.groups ?? [] };
  const passwd = readFirst(rootDirs, 'etc/passwd');
  const entry = passwd?.split('\n').map((l) => l.split(':')).find((f) => f[0] === spec);
  if (!entry || entry.length < 4) throw new SandboxOptionsError('user', `no user ${JSON.stringify(spec)} in the image's /etc/passwd`);
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  const groups = (readFirst(rootDirs, 'etc/group') ?? '').split('\n').map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && f[3]!.split(',').includes(spec)).map((f) => Number(f[2]));
  return { uid, gid, groups };
}

function readFirst(rootDirs: string[], rel: string): string | undefined {
  for (const dir of rootDirs) {
    try {
      return readFileSync(join(dir, rel), 'utf8');
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

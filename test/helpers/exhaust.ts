import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MountOptions } from '../../src/index.js';
import { compileStatic } from './probe.js';

const source = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'exhaust.c');

/** Where the exhaustion program goes inside a sandbox. */
export const EXHAUST = '/exhaust';

let built: string | undefined;

/** Host path of the static exhaustion program (test/fixtures/exhaust.c), compiled on first use. */
export function exhaustPath(): string {
  if (built) return built;
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  // Next to the other temporary files: the checkout is read-only in the rootless run.
  const dir = join(tmpdir(), `sandkit-exhaust-${process.getuid?.() ?? 0}`);
  const target = join(dir, `exhaust-${hash}`);
  if (existsSync(target)) return (built = target);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return (built = compileStatic(source, target));
}

/** The bind mount that puts the program at /exhaust, read-only. */
export function exhaustMount(): MountOptions {
  return { source: exhaustPath(), target: EXHAUST, readonly: true };
}

/** `what=N error=E` from the program's output. */
export function taken(stdout: string, what: string): { got: number; error: string } {
  const m = new RegExp(`^${what}=(\\d+) error=(\\S+)$`, 'm').exec(stdout);
  if (!m) throw new Error(`no ${what}= line in ${JSON.stringify(stdout)}`);
  return { got: Number(m[1]), error: m[2]! };
}

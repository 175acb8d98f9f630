import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MountOptions } from '../../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const source = join(fixtures, 'probe.c');

/** Where the probe goes inside a sandbox. */
export const PROBE = '/probe';

// Built once per content of probe.c, so an edit rebuilds and parallel test files agree on the
// name; each builder compiles to a private temporary file and renames it into place atomically.
function buildDir(): string {
  const dir = join(fixtures, 'build');
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return dir;
  } catch {
    // A read-only checkout (the rootless run): build next to the other temporary files.
    const fallback = join(tmpdir(), `sandkit-probe-${process.getuid?.() ?? 0}`);
    mkdirSync(fallback, { recursive: true, mode: 0o755 });
    return fallback;
  }
}

let built: string | undefined;

/** Host path of the static probe binary, compiled with gcc on first use. */
export function probePath(): string {
  if (built) return built;
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const existing = [join(fixtures, 'build', `probe-${hash}`), join(buildDir(), `probe-${hash}`)].find((p) =>
    existsSync(p)
  );
  if (existing) return (built = existing);
  return (built = compileStatic(source, join(buildDir(), `probe-${hash}`)));
}

/**
 * Compiles a test program statically to `target` (a private temporary file renamed into place,
 * so parallel test files never see half a binary) and returns `target`.
 */
export function compileStatic(sourceFile: string, target: string): string {
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, sourceFile], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
  return target;
}

/** The bind mount that puts the probe at /probe inside a sandbox, read-only. */
export function probeMount(): MountOptions {
  return { source: probePath(), target: PROBE, readonly: true };
}

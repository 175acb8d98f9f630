import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The built package entry points the CLI and crash tests run. */
export const dist = { index: join(repoRoot, 'dist', 'index.js'), cli: join(repoRoot, 'dist', 'cli.js') };

function mtime(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
}

function newestSource(): number {
  const src = join(repoRoot, 'src');
  return Math.max(...readdirSync(src, { recursive: true }).map((f) => mtime(join(src, String(f)))));
}

/** Runs tsup when dist/ is missing or older than src/ (once, from the global setup). */
export function ensureDist(): void {
  const built = Math.min(mtime(dist.index), mtime(dist.cli));
  if (built > 0 && built >= newestSource()) return;
  try {
    accessSync(repoRoot, constants.W_OK);
  } catch {
    if (built > 0) return; // stale but not ours to rebuild (the rootless run): use it as it is
    throw new Error(`dist/ is missing and ${repoRoot} is not writable: run "npx tsup" first`);
  }
  execFileSync(process.execPath, [join(repoRoot, 'node_modules', 'tsup', 'dist', 'cli-default.js')], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

#!/usr/bin/env node
// Builds native/build/sandkit-helper from native/src/*.c. Runs from `npm install`, so it is
// quiet on success and skips the compile when the binary is newer than every source.
// Regenerates native/src/steps.h first if it no longer matches spec/steps.json.
// `--if-no-prebuilt` (the install script): do nothing when the package ships a prebuilt helper
// for this machine (prebuilds/linux-<arch>/, see scripts/prebuild.mjs), so no compiler is needed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { outputs } from './gen-steps.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'native/src');
const outDir = join(root, 'native/build');
const binary = join(outDir, 'sandkit-helper');
const flags = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE'];

function fail(message) {
  process.stderr.write(`sandkit: building the native helper failed: ${message}\n`);
  process.exit(1);
}

/** Rewrite native/src/steps.h if it no longer matches spec/steps.json (`npm run gen` writes the
 * TypeScript side; an installed package ships no src/ to write to). */
function syncStepsHeader() {
  const path = join(root, 'native/src/steps.h');
  const want = outputs['native/src/steps.h']();
  let have = null;
  try {
    have = readFileSync(path, 'utf8');
  } catch {}
  if (have !== want) writeFileSync(path, want);
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function upToDate(inputs) {
  const built = mtime(binary);
  return built > 0 && inputs.every((f) => mtime(f) < built);
}

/** Compiles `sources` into `output` (atomically) with `ccCommand` and `extraFlags` after the usual flags. */
export function compile(sources, { output = binary, ccCommand = process.env.CC || 'cc', extraFlags = [] } = {}) {
  const [cc, ...ccArgs] = ccCommand.trim().split(/\s+/);
  const tmp = `${output}.tmp-${process.pid}`;
  mkdirSync(dirname(output), { recursive: true });
  const r = spawnSync(cc, [...ccArgs, ...flags, ...extraFlags, ...sources, '-o', tmp], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.error?.code === 'ENOENT') {
    fail(`no C compiler "${cc}" found. Install one (Debian/Ubuntu: apt-get install gcc libc6-dev) or set CC.`);
  }
  if (r.error) fail(`${cc}: ${r.error.message}`);
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    fail(`${cc} exited with ${r.status ?? r.signal} (see the errors above)`);
  }
  renameSync(tmp, output);
}

/** The helper's C sources and headers, with steps.h brought up to date. */
export function helperSources() {
  syncStepsHeader();
  const files = readdirSync(srcDir)
    .filter((f) => /\.[ch]$/.test(f))
    .map((f) => join(srcDir, f));
  return { files, sources: files.filter((f) => f.endsWith('.c')).sort() };
}

/** The prebuilt helper shipped for this machine, if any (the same rule as src/helper/helper-path.ts). */
export const prebuiltPath = (arch = process.arch) => join(root, 'prebuilds', `linux-${arch}`, 'sandkit-helper');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.platform !== 'linux') {
    process.stderr.write('sandkit: the native helper only builds on Linux; skipping.\n');
    process.exit(0);
  }
  if (process.argv.includes('--if-no-prebuilt') && existsSync(prebuiltPath())) process.exit(0);
  const { files, sources } = helperSources();
  // The directory's own mtime changes when a source is added or removed.
  if (!upToDate([srcDir, ...files, fileURLToPath(import.meta.url)])) compile(sources);
}

#!/usr/bin/env node
// Builds native/build/sandkit-helper from native/src/*.c. Runs from `npm install`, so it is
// quiet on success and skips the compile when the binary is newer than every source.
// Regenerates native/src/steps.h first if it no longer matches spec/steps.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

function compile(sources) {
  const [cc, ...ccArgs] = (process.env.CC || 'cc').trim().split(/\s+/);
  const tmp = `${binary}.tmp-${process.pid}`;
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync(cc, [...ccArgs, ...flags, ...sources, '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error?.code === 'ENOENT') {
    fail(`no C compiler "${cc}" found. Install one (Debian/Ubuntu: apt-get install gcc libc6-dev) or set CC.`);
  }
  if (r.error) fail(`${cc}: ${r.error.message}`);
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    fail(`${cc} exited with ${r.status ?? r.signal} (see the errors above)`);
  }
  renameSync(tmp, binary);
}

if (process.platform !== 'linux') {
  process.stderr.write('sandkit: the native helper only builds on Linux; skipping.\n');
  process.exit(0);
}
syncStepsHeader();
const files = readdirSync(srcDir).filter((f) => /\.[ch]$/.test(f)).map((f) => join(srcDir, f));
const sources = files.filter((f) => f.endsWith('.c')).sort();
// The directory's own mtime changes when a source is added or removed.
if (!upToDate([srcDir, ...files, fileURLToPath(import.meta.url)])) compile(sources);

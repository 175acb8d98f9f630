#!/usr/bin/env node
// `npm run lint`: every house check that needs no sandbox, each reported on its own line:
// ESLint, Prettier, clang-format, the layer rule of src/, generated files against their
// generators, and the API docs (TypeDoc, warnings are errors). Exits 1 if any failed.
// `--write` (`npm run format`) instead rewrites the files Prettier and clang-format own.
// `--skip a,b` leaves checks out by name (e.g. `--skip docs` while writing JSDoc).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const write = args.includes('--write');
const skipAt = args.indexOf('--skip');
const skip = new Set(skipAt >= 0 ? (args[skipAt + 1] ?? '').split(',') : []);
const bin = (pkg, file) => join(root, 'node_modules', pkg, file);
const LINTED_DIRS = ['src', 'test', 'bench', 'examples', 'scripts'];
const PRETTIER_EXT = /\.(ts|mts|cts|js|mjs|cjs|json)$/;

/** Runs a command in the repository; its output goes straight to ours. */
function run(cmd, cmdArgs, { quiet = false } = {}) {
  const res = spawnSync(cmd, cmdArgs, { cwd: root, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (res.error) return { ok: false, missing: res.error.code === 'ENOENT', out: String(res.error.message) };
  return { ok: res.status === 0, out: `${res.stdout ?? ''}${res.stderr ?? ''}` };
}

/** Every generator (scripts/gen-*.mjs) with the `outputs` it exports: file → render(). */
async function generators() {
  const scripts = readdirSync(join(root, 'scripts'))
    .filter((f) => /^gen-.*\.mjs$/.test(f))
    .sort();
  const found = [];
  for (const script of scripts) {
    const mod = await import(pathToFileURL(join(root, 'scripts', script)).href);
    if (mod.outputs && typeof mod.outputs === 'object') found.push({ script, outputs: mod.outputs });
  }
  return found;
}

/** Files git knows of (tracked, or new and not ignored); generated files are left to their generators. */
function sourceFiles(generated) {
  const res = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`git ls-files failed: ${res.stderr || res.error?.message}`);
  return res.stdout.split('\0').filter((f) => f && !generated.has(f) && existsSync(join(root, f)));
}

const gens = await generators();
const generated = new Set(gens.flatMap((g) => Object.keys(g.outputs)));
const files = sourceFiles(generated);
const prettierFiles = files.filter((f) => PRETTIER_EXT.test(f));
const cFiles = files.filter((f) => /^native\/src\/[^/]+\.[ch]$/.test(f));

const checks = {
  eslint: () => run(process.execPath, [bin('eslint', 'bin/eslint.js'), ...LINTED_DIRS]),

  prettier: () => {
    const res = run(process.execPath, [bin('prettier', 'bin/prettier.cjs'), '--list-different', ...prettierFiles], {
      quiet: true,
    });
    if (res.ok) return res;
    const unformatted = res.out.split('\n').filter((l) => l && !l.startsWith('['));
    if (unformatted.length === 0) return { ok: false, out: res.out };
    const shown = unformatted
      .slice(0, 10)
      .map((f) => `  ${f}\n`)
      .join('');
    const more = unformatted.length > 10 ? `  ... and ${unformatted.length - 10} more\n` : '';
    return {
      ok: false,
      out: `${unformatted.length} of ${prettierFiles.length} files are not formatted (\`npm run format\` rewrites them):\n${shown}${more}`,
    };
  },

  'clang-format': () => {
    const res = run('clang-format', ['--dry-run', '-Werror', ...cFiles], { quiet: true });
    if (res.missing) return { ok: false, out: 'clang-format is not installed (Debian: apt-get install clang-format)' };
    if (res.ok) return res;
    const perFile = new Map();
    for (const m of res.out.matchAll(/^(\S+?):\d+:\d+: error: code should be clang-formatted/gm))
      perFile.set(m[1], (perFile.get(m[1]) ?? 0) + 1);
    if (perFile.size === 0) return res;
    const shown = [...perFile]
      .slice(0, 10)
      .map(([f, n]) => `  ${f} (${n} places)\n`)
      .join('');
    const more = perFile.size > 10 ? `  ... and ${perFile.size - 10} more\n` : '';
    return {
      ok: false,
      out: `${perFile.size} of ${cFiles.length} C files are not formatted (\`npm run format\` rewrites them; \`clang-format --dry-run FILE\` shows where):\n${shown}${more}`,
    };
  },

  // The layers of src/ (docs/architecture.md): no import runs back up.
  layers: () => run(process.execPath, [join(root, 'scripts', 'check-layers.mjs')]),

  generated: async () => {
    const stale = [];
    for (const { script, outputs } of gens) {
      for (const [file, render] of Object.entries(outputs)) {
        const want = typeof render === 'function' ? await render() : render;
        let have = null;
        try {
          have = readFileSync(join(root, file), 'utf8');
        } catch {}
        if (have !== want)
          stale.push(`  ${file} differs from what scripts/${script} generates (run \`node scripts/${script}\`)`);
      }
    }
    const checked = `${generated.size} file(s) from ${gens.map((g) => g.script).join(', ') || 'no generator'}`;
    return stale.length ? { ok: false, out: `${stale.join('\n')}\n` } : { ok: true, out: `${checked} current` };
  },

  // TypeDoc with validation and treatWarningsAsErrors (typedoc.json); writes nothing.
  docs: () => run(process.execPath, [bin('typedoc', 'bin/typedoc'), '--emit', 'none', '--logLevel', 'Warn']),
};

const formatters = {
  prettier: () =>
    run(process.execPath, [bin('prettier', 'bin/prettier.cjs'), '--write', '--log-level', 'warn', ...prettierFiles]),
  'clang-format': () => {
    const res = run('clang-format', ['-i', ...cFiles]);
    return res.missing
      ? { ok: false, out: 'clang-format is not installed (Debian: apt-get install clang-format)' }
      : res;
  },
};

const chosen = Object.entries(write ? formatters : checks).filter(([name]) => !skip.has(name));
const failed = [];
for (const [name, check] of chosen) {
  console.log(`\n--- ${write ? 'format' : 'lint'}: ${name} ---`);
  const t0 = Date.now();
  const res = await check();
  if (res.out && !res.ok) process.stdout.write(res.out.endsWith('\n') ? res.out : `${res.out}\n`);
  console.log(
    `${name}: ${res.ok ? 'ok' : 'FAILED'} (${((Date.now() - t0) / 1000).toFixed(1)} s)${res.ok && res.out && name === 'generated' ? ` — ${res.out}` : ''}`
  );
  if (!res.ok) failed.push(name);
}
const skipped = [...skip].filter((name) => name in (write ? formatters : checks));
console.log(
  `\n${write ? 'format' : 'lint'}: ${chosen.length - failed.length} of ${chosen.length} ok${failed.length ? `; failed: ${failed.join(', ')}` : ''}${skipped.length ? `; skipped: ${skipped.join(', ')}` : ''}`
);
process.exit(failed.length ? 1 : 0);

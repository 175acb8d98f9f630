#!/usr/bin/env node
// Runs one of the TypeScript examples on Node 20, which cannot run .ts itself: strips the types
// with TypeScript (no type check; `npm run typecheck` does that) and runs the result against this
// package's build.   node examples/run.mjs quickstart
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
// A name in this folder or a subfolder of it: quickstart, judge/interactive.
const name = (process.argv[2] ?? '').replace(/\.ts$/, '');
const source = join(here, `${name}.ts`);
if (!/^[\w-]+(\/[\w-]+)?$/.test(name) || !existsSync(source)) {
  console.error('usage: node examples/run.mjs <quickstart|judge-like|judge/interactive>');
  process.exit(2);
}
if (!existsSync(join(here, '..', 'dist', 'index.js'))) {
  console.error('sandkit is not built yet: run `npm install` (or `npx tsup`) first');
  process.exit(2);
}

const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
  fileName: source,
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
// Evaluated as a module whose base is this folder, so 'sandkit' resolves to this package's build
// (package self-reference); nothing is written to disk.
const child = spawn(process.execPath, ['--input-type=module', '--eval', outputText, '--', ...process.argv.slice(3)], {
  cwd: here,
  stdio: 'inherit',
});
// A stop meant for the example (a process manager's SIGTERM or SIGHUP) reaches it, and this
// process ends as it does, so the example is never left running without its parent. ^C already
// reaches the whole foreground group: SIGINT only waits here (a second one would cut the
// example's graceful shutdown short).
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
process.on('SIGINT', () => {});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});

#!/usr/bin/env node
// The layers of src/ (docs/architecture.md): a folder may import only folders below it.
// Prints each import that runs back up (or sideways within one rank) and exits 1 if any.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Top to bottom; folders of one rank may not import each other. */
export const LAYERS = [
  ['cli'],
  ['queue'],
  ['pool'],
  ['sandbox'],
  ['snapshots'],
  ['files'],
  ['process'],
  ['images'],
  ['rootfs', 'network'],
  ['archive'],
  ['platform'],
  ['cgroup'],
  ['limits', 'security', 'namespaces'],
  ['helper'],
  ['errors'],
];

const rankOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank])));

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(path) : e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every import of src/ that breaks the layering, as "from -> to" lines. */
export function layerViolations(src = join(root, 'src')) {
  const out = [];
  for (const file of sourceFiles(src)) {
    const from = relative(src, file).split('/');
    if (from.length < 2) continue; // src/index.ts: the public face, above every folder
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = relative(src, normalize(join(dirname(file), m[1]))).split('/');
      if (to.length < 2 || to[0] === from[0]) continue;
      const a = rankOf.get(from[0]),
        b = rankOf.get(to[0]);
      if (a === undefined || b === undefined)
        out.push(`${from.join('/')}: folder ${a === undefined ? from[0] : to[0]} is not in LAYERS`);
      else if (b <= a) out.push(`${from.join('/')} -> ${to.join('/')}: ${to[0]} is not below ${from[0]}`);
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bad = layerViolations();
  for (const line of bad) console.error(line);
  if (bad.length > 0) process.exit(1);
}

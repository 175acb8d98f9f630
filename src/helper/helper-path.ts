import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxUnsupportedError } from '../errors/sandbox-error.js';

/** The package's root directory, found from this module whether it runs from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('sandkit: cannot find the package root');
}

/** Path of the compiled native helper (`SANDKIT_HELPER` overrides it). */
export function helperPath(): string {
  const path = process.env.SANDKIT_HELPER ?? join(packageRoot(), 'native', 'build', 'sandkit-helper');
  if (!existsSync(path)) {
    throw new SandboxUnsupportedError(['native helper'], `${path} is missing; run "npm rebuild sandkit" (needs a C compiler)`);
  }
  return path;
}

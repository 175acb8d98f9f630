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

/** Where the package ships the static helper for an architecture (`process.arch`: x64, arm64). */
export function prebuiltHelperPath(arch: string = process.arch, root = packageRoot()): string {
  return join(root, 'prebuilds', `linux-${arch}`, 'sandkit-helper');
}

/**
 * Path of the native helper: `SANDKIT_HELPER` when set; else one built from source
 * (native/build/, made by `npm run build` or by the install script where no prebuilt fits);
 * else the package's prebuilt one for `process.arch`, which needs no compiler and no install
 * script (`npm install --ignore-scripts`).
 */
export function helperPath(): string {
  const override = process.env.SANDKIT_HELPER;
  if (override !== undefined && override !== '') {
    if (!existsSync(override))
      throw new SandboxUnsupportedError(['native helper'], `SANDKIT_HELPER names ${override}, which does not exist`);
    return override;
  }
  const root = packageRoot();
  const built = join(root, 'native', 'build', 'sandkit-helper');
  if (existsSync(built)) return built;
  const prebuilt = prebuiltHelperPath(process.arch, root);
  if (existsSync(prebuilt)) return prebuilt;
  throw new SandboxUnsupportedError(
    ['native helper'],
    `no prebuilt helper for linux-${process.arch} and none built from source in ${built}; run "npm rebuild sandkit" (needs a C compiler and libc headers) or set SANDKIT_HELPER`
  );
}

#!/usr/bin/env node
// `npm run prebuilds` (and `prepack`): the helper for every architecture the package ships,
// static so the host's libc does not matter, in prebuilds/linux-<arch>/sandkit-helper.
// arm64 is cross-compiled with Debian's gcc-aarch64-linux-gnu. Stripped and built without
// debug info or build paths, so the same sources and compiler give the same bytes.
import { spawnSync } from 'node:child_process';
import { compile, helperSources, prebuiltPath } from './build-native.mjs';

const targets = [
  { arch: 'x64', cc: process.arch === 'x64' ? process.env.CC || 'cc' : 'x86_64-linux-gnu-gcc', hint: 'gcc libc6-dev' },
  {
    arch: 'arm64',
    cc: process.arch === 'arm64' ? process.env.CC || 'cc' : 'aarch64-linux-gnu-gcc',
    hint: 'gcc-aarch64-linux-gnu libc6-dev-arm64-cross',
  },
];
const only = process.argv.slice(2);
const { sources } = helperSources();
for (const { arch, cc, hint } of targets) {
  if (only.length > 0 && !only.includes(arch)) continue;
  const probe = spawnSync(cc.split(/\s+/)[0], ['--version'], { stdio: 'ignore' });
  if (probe.error) {
    process.stderr.write(`sandkit: no compiler "${cc}" for linux-${arch} (Debian: apt-get install ${hint})\n`);
    process.exit(1);
  }
  compile(sources, {
    output: prebuiltPath(arch),
    ccCommand: cc,
    extraFlags: ['-static', '-s', '-ffile-prefix-map=' + process.cwd() + '=.'],
  });
  console.log(`prebuilds/linux-${arch}/sandkit-helper`);
}

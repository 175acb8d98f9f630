#!/usr/bin/env node
// The whole test suite, as CI runs it: lint and type checks, then every vitest project on the host; as root also the
// privileged suites again as an unprivileged user (rootless, through user namespaces) and the
// cgroup-v2 suite inside a cgroup-v2 VM. Prints one closing line "N passed, N failed, N skipped".
// As root, a skipped privileged test is a failure (SANDKIT_MUST_WORK=1) unless SANDKIT_ALLOW_SKIP=1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const isRoot = process.getuid() === 0;
const mustWork = isRoot && process.env.SANDKIT_ALLOW_SKIP !== '1';
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const extraArgs = process.argv.slice(2);
const totals = { passed: 0, failed: 0, skipped: 0 };
let broken = false;

// `strict`: this pass runs as root on a host that has every feature, so a skip is a failure.
function runVitest(label, args, { prefix = [], env = {}, strict = mustWork } = {}) {
  // Reports go under the repository: it is shared with the VM, whose /tmp is its own.
  mkdirSync(join(root, '.test-work'), { recursive: true });
  const work = mkdtempSync(join(root, '.test-work', 'run-'));
  chmodSync(work, 0o777);
  const report = join(work, 'report.json');
  console.log(`\n=== ${label} ===`);
  // The runner config loader writes no temporary files (the rootless pass cannot write node_modules).
  const cmd = [
    ...prefix,
    process.execPath,
    vitest,
    'run',
    '--configLoader',
    'runner',
    ...args,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...extraArgs,
  ];
  const res = spawnSync(cmd[0], cmd.slice(1), {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SANDKIT_MUST_WORK: strict ? '1' : '', ...env },
  });
  let counted = false;
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    totals.skipped += skipped;
    counted = r.numTotalTests > 0;
    if (r.numFailedTestSuites > 0 && r.numFailedTests === 0) broken = true; // a file failed to load
    if (strict && skipped > 0) {
      console.error(`${label}: ${skipped} test(s) skipped while running as root`);
      broken = true;
    }
  }
  if (res.status !== 0 || !counted) {
    console.error(`${label}: vitest exited with ${res.status ?? res.signal}`);
    broken = true;
  }
  rmSync(work, { recursive: true, force: true });
}

function hasTests(dir) {
  try {
    return readdirSync(join(root, dir), { recursive: true }).some((f) => String(f).endsWith('.test.ts'));
  } catch {
    return false;
  }
}

// House checks first (scripts/lint.mjs: ESLint, Prettier, clang-format, layers, generated files,
// API docs); a failure counts as one failed test, and the suites still run.
console.log('\n=== lint ===');
const lint = spawnSync(process.execPath, [join(root, 'scripts', 'lint.mjs')], { cwd: root, stdio: 'inherit' });
if (lint.status !== 0) {
  console.error(`lint failed (${lint.status ?? lint.signal}): see above`);
  totals.failed += 1;
  broken = true;
} else totals.passed += 1;

// Types first: the SDK, and the tests, examples and benchmarks written against it.
for (const project of ['tsconfig.json', 'tsconfig.test.json']) {
  console.log(`\n=== typecheck: ${project} ===`);
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', project],
    { cwd: root, stdio: 'inherit' }
  );
  if (tsc.status !== 0) {
    console.error(`typecheck of ${project} failed`);
    broken = true;
  }
}

// The public API's types (expectTypeOf): compile-time only, fast.
runVitest('host: types', ['--project', 'types'], { strict: false });
runVitest('host: unit, integration, security', [
  '--project',
  'unit',
  '--project',
  'integration',
  '--project',
  'security',
]);
// Limits measure CPU time to tens of milliseconds: nothing else may compete for the 2 cores.
runVitest('host: limits (cgroup v1 controllers here, alone)', ['--project', 'limits']);
// Network tests make bridges, nft tables and namespaces of their own; other tests must not see them.
runVitest('host: network (alone)', ['--project', 'network']);
// sandkit/queue: worker processes and a redis-server of the tests' own, loading both cores.
runVitest('host: queue (alone)', ['--project', 'queue']);
// The examples' own suites (a server fixture on a bridge): root only, like the network tests.
if (isRoot) runVitest('host: examples', ['--project', 'examples']);
// kill -9 of Node, the helper and inits at seeded random points (SANDKIT_FAULT_SEED replays).
runVitest('host: faults (alone)', ['--project', 'faults']);
// The package as installed (npm pack; needs the prebuilt helpers) and a container-like host.
if (isRoot) {
  const prebuild = spawnSync(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (prebuild.status !== 0) {
    console.error('npm run prebuilds failed');
    broken = true;
  }
}
runVitest('host: container (package and container-like host)', ['--project', 'container']);

if (isRoot && process.env.SANDKIT_NO_ROOTLESS !== '1') {
  // Rootless: the same privileged suites as uid/gid 65534, with state in a fresh private place.
  const state = mkdtempSync(join(tmpdir(), 'sandkit-rootless-'));
  chmodSync(state, 0o777);
  runVitest(
    'rootless (uid 65534): integration, security, limits, network, faults, container, queue',
    [
      '--project',
      'integration',
      '--project',
      'security',
      '--project',
      'limits',
      '--project',
      'network',
      '--project',
      'faults',
      '--project',
      'container',
      '--project',
      'queue',
    ],
    {
      prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'],
      env: {
        HOME: state,
        XDG_STATE_HOME: join(state, 'state'),
        SANDKIT_STATE_DIR: join(state, 'sandkit'),
        TMPDIR: state,
      },
      // Rootless lacks what only root has (bridges, cgroups): those tests may skip, saying why.
      strict: false,
    }
  );
  rmSync(state, { recursive: true, force: true });
}

const vmTool = join(root, '..', 'shared', 'tools', 'cgroup2-vm', 'run-in-vm.sh');
if (hasTests('test/cgroup-v2') && process.env.SANDKIT_NO_VM !== '1') {
  if (isRoot && existsSync(vmTool)) {
    runVitest('cgroup v2 (inside a cgroup-v2 VM)', ['--project', 'cgroup-v2'], {
      // The guest's / is an overlay, like a container's: the default state dir stays on it and
      // sandboxes' writable layers go on tmpfs in their own mount namespaces (docs/deploy.md).
      prefix: [
        'bash',
        vmTool,
        '-t',
        '2400',
        '-m',
        '4G',
        '-e',
        'SANDKIT_IN_VM=1',
        '-e',
        `SANDKIT_MUST_WORK=${mustWork ? 1 : ''}`,
        '--',
      ],
    });
  } else {
    console.warn('cgroup-v2 suite not run: needs root and ../shared/tools/cgroup2-vm');
    if (mustWork) broken = true;
  }
}

console.log(`\nsandkit: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(broken || totals.failed > 0 ? 1 : 0);

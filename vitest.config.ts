import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Privileged suites share the machine's kernel; keep their timeouts generous for slow CI hosts
// and the cgroup-v2 VM, where everything runs 10–20× slower.
const slow = process.env.SANDKIT_IN_VM ? 120_000 : 30_000;

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 10_000 } },
      // The public API's types (expectTypeOf in test/types/*.test-d.ts), checked by tsc: nothing runs.
      {
        test: {
          name: 'types',
          include: [],
          typecheck: {
            enabled: true,
            only: true,
            include: ['test/types/**/*.test-d.ts'],
            tsconfig: 'tsconfig.test.json',
          },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: slow,
          hookTimeout: slow,
        },
      },
      {
        test: {
          name: 'security',
          include: ['test/security/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: slow,
          hookTimeout: slow,
        },
      },
      // Bridges, nftables and test-made network namespaces: one file at a time, see scripts/test.mjs.
      {
        test: {
          name: 'network',
          include: ['test/network/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: slow,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      // The examples' own suites, written against the package name as a user's are (root: bridges).
      {
        resolve: { alias: { sandkit: fileURLToPath(new URL('./src/index.ts', import.meta.url)) } },
        test: {
          name: 'examples',
          include: ['examples/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: slow,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      // sandkit/queue against a real redis-server per file (started by the tests on a free port) and
      // `sandkit worker` child processes standing for machines: one file at a time (they load both cores).
      {
        test: {
          name: 'queue',
          include: ['test/queue/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      // Timing-sensitive (CPU-time precision, cpu.max shares): run alone, see scripts/test.mjs,
      // and one file at a time (the judge table would otherwise load the CPUs under the limits suite).
      {
        test: {
          name: 'limits',
          include: ['test/limits/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: slow,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      // kill -9 of Node, the helper and inits at seeded random points; each trial checks for leaks.
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: slow,
          fileParallelism: false,
        },
      },
      // The package as installed (npm pack, --ignore-scripts, no compiler) and container-like hosts.
      {
        test: {
          name: 'container',
          include: ['test/container/**/*.test.ts'],
          globalSetup: ['test/helpers/integration-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cgroup-v2',
          include: ['test/cgroup-v2/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

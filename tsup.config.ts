import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', queue: 'src/queue/index.ts', cli: 'src/cli/main.ts' },
  format: ['esm'],
  target: 'node20',
  dts: { entry: { index: 'src/index.ts', queue: 'src/queue/index.ts' } },
  sourcemap: true,
  clean: true,
  splitting: true,
  // bullmq is an optional peer: only dist/queue.js (and the CLI's worker/submit) import it.
  external: ['bullmq'],
  banner: ({ format }) => (format === 'esm' ? {} : {}),
});

import type { TestContext } from 'vitest';

/**
 * Skips a test whose kernel feature is truly missing, printing why. With SANDKIT_MUST_WORK=1
 * (set by the test runner when it runs as root on a machine that has everything) a missing
 * feature fails the test instead, so a skip can never pass for green.
 */
export function requireFeature(ctx: TestContext, available: boolean, reason: string): void {
  if (available) return;
  if (process.env.SANDKIT_MUST_WORK === '1') throw new Error(`required feature missing: ${reason}`);
  console.warn(`skipped "${ctx.task.name}": ${reason}`);
  ctx.skip(reason);
}

/** True when this process runs as root. */
export const isRoot = process.getuid?.() === 0;

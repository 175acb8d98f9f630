import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeTree, removeTreeSync } from '../../src/platform/remove-tree.js';

/** A tree `depth` directories deep (one-letter names, so the path stays under PATH_MAX), a file at the bottom. */
function deepTree(depth: number): string {
  const root = mkdtempSync(join(tmpdir(), 'sandkit-deep-'));
  let p = root;
  for (let i = 0; i < depth; i++) p = join(p, 'a');
  mkdirSync(p, { recursive: true });
  writeFileSync(join(p, 'f'), 'x');
  return root;
}

describe('removeTree', () => {
  // Node's recursive rmSync overflows its call stack near 2000 levels (the async rm copes).
  it('removes a tree deeper than a recursive walk can go', { timeout: 60_000 }, () => {
    const a = deepTree(2000);
    removeTreeSync(a);
    expect(existsSync(a)).toBe(false);
  });

  it('removes a tree asynchronously', async () => {
    const b = deepTree(50);
    await removeTree(b);
    expect(existsSync(b)).toBe(false);
  });

  it('removes directories a program made unreadable', () => {
    const root = mkdtempSync(join(tmpdir(), 'sandkit-locked-'));
    mkdirSync(join(root, 'x', 'y'), { recursive: true });
    writeFileSync(join(root, 'x', 'y', 'f'), 'x');
    chmodSync(join(root, 'x', 'y'), 0o000);
    chmodSync(join(root, 'x'), 0o000);
    removeTreeSync(root);
    expect(existsSync(root)).toBe(false);
  });
});

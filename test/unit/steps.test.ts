import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { renderC, renderTs } from '../../scripts/gen-steps.mjs';

describe('generated step constants', () => {
  it('native/src/steps.h and src/errors/steps.ts match spec/steps.json', () => {
    expect(readFileSync('native/src/steps.h', 'utf8')).toBe(renderC());
    expect(readFileSync('src/errors/steps.ts', 'utf8')).toBe(renderTs());
  });
});

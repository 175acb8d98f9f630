import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { layerViolations } from '../../scripts/check-layers.mjs';

const check = layerViolations as (src?: string) => string[];

describe('layers of src/ (docs/architecture.md)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'sandkit-layers-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('no import of src/ runs back up a layer', () => {
    expect(check()).toEqual([]);
  });

  it('an import of a higher folder, or of an unknown one, is reported', () => {
    const src = join(scratch, 'src');
    for (const dir of ['helper', 'sandbox', 'gadgets']) mkdirSync(join(src, dir), { recursive: true });
    writeFileSync(join(src, 'sandbox', 'sandbox.ts'), "import { x } from '../helper/conn.js';\n");
    writeFileSync(
      join(src, 'helper', 'conn.ts'),
      "import type { S } from '../sandbox/sandbox.js';\nexport const x = 1;\n"
    );
    writeFileSync(join(src, 'gadgets', 'g.ts'), "import { x } from '../helper/conn.js';\n");
    expect(check(src).sort()).toEqual([
      'gadgets/g.ts: folder gadgets is not in LAYERS',
      'helper/conn.ts -> sandbox/sandbox.js: sandbox is not below helper',
    ]);
  });
});

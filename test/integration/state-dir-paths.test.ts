import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/index.js';

// The sandbox's mount table names its layers by short numbers through a small private tmpfs of
// symlinks (docs/security.md): a state dir with a long path must still fit, with room for every
// layer of the host image and the caller's mounts.
describe('a state dir with a long path', () => {
  it('starts sandboxes and runs programs', async () => {
    const base = join(process.env.SANDKIT_STATE_DIR!, `long-${process.pid}`);
    // About 300 characters (the old 16 KiB tmpfs failed from about 200), well under the
    // protocol's bound on a path.
    let dir = base;
    for (let i = 0; dir.length < 300; i++) dir = join(dir, `a-rather-long-state-directory-level-${i}`);
    mkdirSync(dir, { recursive: true });
    try {
      const sb = new Sandbox({ stateDir: dir });
      try {
        const r = await sb.run(['sh', '-c', 'echo ok']);
        expect(r).toMatchObject({ status: 'ok', stdout: 'ok\n' });
      } finally {
        await sb.destroy();
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

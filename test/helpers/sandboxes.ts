import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test as base } from 'vitest';
import { Sandbox, type SandboxOptions, type SandboxProcess } from '../../src/index.js';
import { removeTreeSync } from '../../src/platform/remove-tree.js';
import { probeMount, probePath } from './probe.js';

export interface SandboxFixtures {
  /** A new sandbox with the probe at /probe (plus any `mounts` given); destroyed after the test. */
  sandbox: (options?: SandboxOptions) => Sandbox;
  /** A new host temporary directory, removed after the test. */
  tempDir: (prefix?: string) => string;
}

/** `it` with sandboxes and temporary directories that are cleaned up whatever happens. */
export const it = base.extend<SandboxFixtures>({
  sandbox: async ({}, use) => {
    const made: Sandbox[] = [];
    await use((options = {}) => {
      const sandbox = new Sandbox({ ...options, mounts: [probeMount(), ...(options.mounts ?? [])] });
      made.push(sandbox);
      return sandbox;
    });
    await Promise.all(made.map((s) => s.destroy()));
  },
  tempDir: async ({}, use) => {
    const made: string[] = [];
    await use((prefix = 'sandkit-test-') => {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    });
    for (const dir of made) removeTreeSync(dir);
  },
});

/**
 * Fills `dir` with a minimal root filesystem: the static probe as /bin/probe and a marker file
 * /etc/image-marker. Programs in it are run as `['/bin/probe', action, ...]`.
 */
export function makeProbeImage(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  copyFileSync(probePath(), join(dir, 'bin', 'probe'));
  writeFileSync(join(dir, 'etc', 'image-marker'), 'from the image\n');
  return dir;
}

/** Lines of a text, without the empty last one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
}

/** Resolves with the host pid of `proc` once its `spawn` event has been emitted. */
export function whenSpawned(sb: Sandbox, proc: SandboxProcess): Promise<number> {
  if (proc.pid !== undefined) return Promise.resolve(proc.pid);
  return new Promise((resolve) => {
    const onSpawn = ({ process, pid }: { process: { id: string }; pid: number }) => {
      if (process.id !== proc.id) return;
      sb.off('spawn', onSpawn);
      resolve(pid);
    };
    sb.on('spawn', onSpawn);
  });
}

/** Runs a shell script in `sb` as `user`, expects exit 0 (naming the script and its stderr otherwise) and returns its stdout. */
export async function sh(sb: Sandbox, script: string, user: string | number = 0): Promise<string> {
  const r = await sb.run(['/bin/sh', '-c', script], { user });
  expect(r.exitCode, `${script}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

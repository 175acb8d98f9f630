import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { requireFeature } from '../helpers/require-feature.js';
import { helperPath } from '../../src/helper/helper-path.js';

// One failing system call per setup step, injected with strace into the real helper: the SDK
// must reject with a SandboxSetupError naming the step, the call and the errno — not hang, not
// crash, not leak (the integration teardown checks what is left).
const wrapper = join(__dirname, '..', 'fixtures', 'strace-helper.sh');
const hasStrace = spawnSync('strace', ['-V']).status === 0;

async function freshSdk(inject: string) {
  process.env.SANDKIT_REAL_HELPER = helperPath();
  process.env.SANDKIT_HELPER = wrapper;
  process.env.SANDKIT_INJECT = inject;
  vi.resetModules();
  return import('../../src/index.js');
}

describe('setup failures, by fault injection', () => {
  afterEach(() => {
    delete process.env.SANDKIT_HELPER;
    delete process.env.SANDKIT_INJECT;
  });

  // A refused clone3 is what a container's seccomp profile does to user namespaces: the error
  // names the setting that fixes it, and keeps the helper's record as its cause.
  it('clone3:error=EPERM fails start with SandboxUnsupportedError naming the seccomp setting, the setup failure as cause', async (ctx) => {
    requireFeature(ctx, hasStrace, 'needs strace (Debian package strace)');
    const { Sandbox, SandboxSetupError, SandboxUnsupportedError } = await freshSdk('clone3:error=EPERM:when=1');
    const sb = new Sandbox();
    try {
      const err = await sb.start().then(
        () => null,
        (e: unknown) => e
      );
      expect(err).toBeInstanceOf(SandboxUnsupportedError);
      expect(err).toMatchObject({ code: 'ERR_SANDBOX_UNSUPPORTED', missing: ['user namespaces'] });
      expect(String(err)).toMatch(/seccomp=unconfined/);
      const cause = (err as Error).cause;
      expect(cause).toBeInstanceOf(SandboxSetupError);
      expect(cause).toMatchObject({ step: 'sandbox.clone', syscall: 'clone3', errnoCode: 'EPERM' });
    } finally {
      await sb.destroy();
    }
  });

  it.for([
    // [strace injection, operation, step, syscall, errno]
    ['mount:error=EACCES:when=1', 'start', 'mount.private', 'mount', 'EACCES'],
    ['pivot_root:error=EINVAL', 'start', 'pivot_root', 'pivot_root', 'EINVAL'],
    ['sethostname:error=EPERM', 'start', 'uts.hostname', 'sethostname', 'EPERM'],
    ['fchdir:error=EACCES', 'start', 'pivot_root', 'fchdir', 'EACCES'],
    ['prlimit64:error=EPERM', 'spawn', 'spawn.rlimit', 'setrlimit', 'EPERM'],
    ['seccomp:error=EINVAL', 'spawn', 'seccomp.load', 'seccomp', 'EINVAL'],
  ] as const)('%s fails %s at %s', async ([inject, operation, step, syscall, errnoCode], ctx) => {
    requireFeature(ctx, hasStrace, 'needs strace (Debian package strace)');
    const { Sandbox, SandboxSetupError } = await freshSdk(inject);
    const sb = new Sandbox();
    try {
      const err = await (operation === 'start' ? sb.start() : sb.run(['true'], { cwd: '/tmp' })).then(
        () => null,
        (e: unknown) => e
      );
      expect(err, `no failure with ${inject}`).toBeInstanceOf(SandboxSetupError);
      expect(err).toMatchObject({ code: 'ERR_SANDBOX_SETUP', step, syscall, errnoCode });
      expect((err as Error).message).toMatch(new RegExp(`^${operation}: ${step.replace('.', '\\.')}: ${syscall}\\(`));
    } finally {
      await sb.destroy();
    }
  });

  it('a host that refuses memfd_create still runs sandboxes (the sealed copy is skipped)', async (ctx) => {
    requireFeature(ctx, hasStrace, 'needs strace (Debian package strace)');
    const { Sandbox } = await freshSdk('memfd_create:error=EPERM');
    const sb = new Sandbox();
    try {
      expect((await sb.run(['echo', 'ok'])).stdout).toBe('ok\n');
    } finally {
      await sb.destroy();
    }
  });
});

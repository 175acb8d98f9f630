import { describe, expect, it } from 'vitest';
import {
  SandboxError,
  SandboxOptionsError,
  SandboxSetupError,
  SandboxHelperError,
} from '../../src/errors/sandbox-error.js';

describe('SandboxError', () => {
  it('has stable codes and a brand that survives duplicate installs', () => {
    const err = new SandboxOptionsError('hostname', 'bad');
    expect(err.code).toBe('ERR_SANDBOX_OPTIONS');
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toBeInstanceOf(SandboxOptionsError);
    expect(err).not.toBeInstanceOf(SandboxSetupError);
    // An error object from another copy of the package carries the same global brand.
    const foreign = Object.assign(new Error('x'), { code: 'ERR_SANDBOX_SETUP' });
    Object.defineProperty(foreign, Symbol.for('sandkit.SandboxError'), { value: true });
    expect(foreign).toBeInstanceOf(SandboxError);
    expect(new Error('plain')).not.toBeInstanceOf(SandboxError);
  });

  it('builds setup messages from general to specific', () => {
    const err = new SandboxSetupError('start', {
      step: 'rootfs.overlay',
      syscall: 'mount',
      errno: 1,
      errnoCode: 'EPERM',
      path: '/x/root',
      detail: 'Operation not permitted',
    });
    expect(err.message).toBe('start: rootfs.overlay: mount("/x/root"): EPERM (Operation not permitted)');
    expect(err).toMatchObject({
      step: 'rootfs.overlay',
      syscall: 'mount',
      errno: 1,
      errnoCode: 'EPERM',
      path: '/x/root',
    });
    expect(err.name).toBe('SandboxSetupError');
  });

  it('keeps the end of the helper stderr on helper errors', () => {
    const err = new SandboxHelperError('the sandkit helper exited (SIGSEGV)', 'boom\n');
    expect(err.message).toBe('the sandkit helper exited (SIGSEGV): boom');
    expect(err.stderr).toBe('boom\n');
  });
});

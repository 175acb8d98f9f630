import { describe, expect, it } from 'vitest';
import { Sandbox, SandboxAbortedError } from '../../src/index.js';

// An aborted start() destroys the sandbox in the background; when that teardown fails, the
// failure belongs to whoever awaits destroy(), never to an unhandled rejection that ends Node.
describe('an aborted start whose teardown fails', () => {
  it('rejects destroy() and leaves no unhandled rejection', async () => {
    // Not the fixture: its destroy() would meet the same failure on purpose.
    const sb = new Sandbox();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // A throwing observer is the simplest failure a teardown can meet: it runs after the cleanup.
      const tornDown = new Promise<void>((resolve) => {
        sb.once('destroyed', () => {
          resolve();
          throw new Error('observer failed');
        });
      });
      const ac = new AbortController();
      const started = sb.start({ signal: ac.signal });
      ac.abort();
      await expect(started).rejects.toBeInstanceOf(SandboxAbortedError);
      // Nobody has called destroy() yet: the background teardown's failure must wait for one.
      await tornDown;
      await new Promise((r) => setTimeout(r, 50)); // unhandled rejections surface a tick later
      expect(unhandled).toEqual([]);
      await expect(sb.destroy()).rejects.toThrow('observer failed');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

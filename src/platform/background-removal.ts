import { onProcessExit } from './sessions.js';

// Removals that destroy() does not wait for (an emptied cgroup, a renamed-away directory tree):
// nothing of them is visible under the names the caller knows. They run at once in the
// background; whatever is still pending when Node exits is finished synchronously then, and a
// crash leaves it inside this session, which the next start's sweep removes.
const pending = new Set<() => void>();
let hooked = false;

/** Starts `work`; `finishSync` completes it at exit if it is still pending then. */
export function removeInBackground(work: () => Promise<void>, finishSync: () => void): void {
  if (!hooked) {
    hooked = true;
    onProcessExit(() => {
      for (const finish of pending) {
        try {
          finish();
        } catch {
          // the next session's sweep removes it
        }
      }
      pending.clear();
    });
  }
  pending.add(finishSync);
  void work()
    .catch(() => {}) // as above: the sweep takes what could not go now
    .finally(() => pending.delete(finishSync));
}

/** How many background removals are still running (for tests and diagnostics). */
export function pendingRemovals(): number {
  return pending.size;
}

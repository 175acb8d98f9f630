import { helperConnection, type HelperConnection } from '../helper/helper-connection.js';
import { Session } from './session.js';
import { checkStateDir, defaultStateDir } from './state-dir.js';

// Process-wide state of this Node process: one session per state root in use, and the one
// helper connection. Both end with the process (see installExitHook).

const sessions = new Map<string, Session>();
const exitCleanups: Array<() => void> = [];
let exitHookInstalled = false;

/** The session for a state root, opened on first use (checking the directory once). */
export function sessionFor(stateDir = defaultStateDir()): Session {
  let session = sessions.get(stateDir);
  if (!session) {
    checkStateDir(stateDir, stateDir === process.env.SANDKIT_STATE_DIR ? 'SANDKIT_STATE_DIR' : 'stateDir');
    session = Session.open(stateDir);
    sessions.set(stateDir, session);
    installExitHook();
  }
  return session;
}

/** The helper connection shared by every sandbox of this process. */
export function connection(): HelperConnection {
  installExitHook();
  return helperConnection();
}

/** Runs `cleanup` synchronously when Node exits, after the helper is killed and before sessions are removed. */
export function onProcessExit(cleanup: () => void): void {
  exitCleanups.push(cleanup);
  installExitHook();
}

// When Node exits normally, sandboxes must not outlive it: kill the helper (its inits die by
// PDEATHSIG) and remove this process's state. A crash is covered by the sweep on next start.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    helperConnection().killNow();
    for (const cleanup of exitCleanups) {
      try {
        cleanup();
      } catch {
        // best effort at exit; the next start sweeps what is left
      }
    }
    for (const session of sessions.values()) {
      try {
        session.removeSync();
      } catch {
        // as above
      }
    }
  });
}

import { connection } from './runtime.js';
import { defaultStateDir } from './state-dir.js';

/** What the host offers sandkit, as `sandkit doctor` prints it. */
export interface HostReport {
  /** Raw feature flags reported by the native helper. */
  features: Record<string, unknown>;
  /** Whether sandkit runs as root here. */
  root: boolean;
  /** Where sandbox state is kept. */
  stateDir: string;
  /** Problems that stop sandboxes from working, each with a hint. */
  problems: string[];
}

/** Asks the native helper what this host supports and explains what is missing. */
export async function probeHost(): Promise<HostReport> {
  const reply = await connection().request<{ type: 'features'; req: number; features: Record<string, unknown> }>({ type: 'features' });
  const f = reply.features;
  const root = process.getuid?.() === 0;
  const problems: string[] = [];
  if (f.userns === false && !root) problems.push('user namespaces are unavailable: enable kernel.unprivileged_userns_clone or run as root');
  if (f.overlayInUserns === false) problems.push('overlayfs cannot be mounted in a user namespace (needs Linux 5.11+)');
  return { features: f, root, stateDir: defaultStateDir(), problems };
}

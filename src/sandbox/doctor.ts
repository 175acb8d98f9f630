import { cgroupsFor } from './runtime.js';
import { connection } from '../platform/sessions.js';
import { PROC_FIX, USERNS_FIX, procOvermounts, procSysReadOnly } from '../platform/container-limits.js';
import {
  checkStateDir,
  defaultStateDir,
  writableLayerPlacement,
  type WritableLayerPlacement,
} from '../platform/state-dir.js';
import type { Controller, Placement } from '../cgroup/cgroup.js';
import {
  DEFAULT_SANDBOX_LIMITS,
  formatBytes,
  resolveSandboxLimitsWithDefaults,
  type DefaultedLimit,
} from '../limits/limits.js';
import { enforcementOf } from '../cgroup/enforcement.js';
import { Sandbox } from './sandbox.js';
import { timeNamespaceSupported } from '../namespaces/time.js';

/** What the host offers sandkit, as `sandkit doctor` prints it. */
export interface HostReport {
  /** Raw feature flags reported by the native helper. */
  features: Record<string, unknown>;
  /** Whether sandkit runs as root here. */
  root: boolean;
  /** Where sandbox state is kept. */
  stateDir: string;
  /**
   * Where sandboxes' writable layers go (`stateDir`, or a tmpfs in each sandbox's mount
   * namespace where the state dir's filesystem cannot hold an overlay upper), and why; or why
   * the state dir cannot be used at all.
   */
  writableLayers:
    | WritableLayerPlacement
    | {
        /** Why the state directory cannot be used. */
        unavailable: string;
      };
  /** Which cgroup hierarchy serves each controller, or why none can be used. */
  cgroups:
    | {
        /** The hierarchy of each controller. */
        controllers: Record<Controller, Placement>;
        /** Whether sandboxes can be paused. */
        freezer: boolean;
        /** Whether sandkit uses the unified (v2) hierarchy. */
        v2: boolean;
      }
    | {
        /** Why no cgroup can be used. */
        unavailable: string;
      };
  /**
   * The limits every sandbox gets without `limits` (raise each by giving it; `limits: 'unlimited'`
   * drops them), and how this host enforces each: a cgroup controller, or an rlimit stand-in.
   */
  defaultLimits: Record<
    DefaultedLimit,
    {
      /** The default, e.g. `2 GiB`. */
      value: string;
      /** What enforces it here: a cgroup controller or an rlimit. */
      enforcedBy: string;
    }
  >;
  /** Whether sandboxes get a time namespace (their uptime counts from their start). */
  timeNamespace: boolean;
  /** Problems that stop sandboxes (or some limits) from working, each with a hint. */
  problems: string[];
  /** A real sandbox started and ran `true` here (with rlimits where cgroups are missing), or the error it gave. */
  sandboxStarts:
    | true
    | {
        /** The error's class name, e.g. `SandboxUnsupportedError`. */
        error: string;
        /** Its message. */
        message: string;
      };
}

/** Starts one sandbox the way a user would: the end-to-end answer to "does it work here". */
async function trySandbox(): Promise<HostReport['sandboxStarts']> {
  const sandbox = new Sandbox({ network: 'none', limitFallback: 'rlimit' });
  try {
    await sandbox.run(['true']);
    return true;
  } catch (err) {
    return { error: (err as Error).constructor.name, message: (err as Error).message };
  } finally {
    await sandbox.destroy().catch(() => {});
  }
}

/** Asks the native helper what this host supports and explains what is missing. */
export async function probeHost(): Promise<HostReport> {
  const reply = await connection().request('features');
  const f = reply.features;
  const root = process.getuid?.() === 0;
  const problems: string[] = [];
  if (f.userns === false && !root)
    problems.push(
      `user namespaces are unavailable: enable kernel.unprivileged_userns_clone or run as root; in a container, ${USERNS_FIX}`
    );
  if (f.userns === false && root)
    problems.push(`user namespaces are refused (sandboxes need namespaces.user: false): ${USERNS_FIX}`);
  const masked = procOvermounts();
  if (masked.length > 0)
    problems.push(
      `/proc has masked paths (${masked.slice(0, 4).join(', ')}${masked.length > 4 ? ', …' : ''}): a sandbox cannot mount its own /proc; ${PROC_FIX}`
    );
  else if (procSysReadOnly())
    problems.push(`/proc/sys is read-only: a sandbox's kernel-object limits cannot be set; ${PROC_FIX}`);
  if (f.overlayInUserns === false) problems.push('overlayfs cannot be mounted in a user namespace (needs Linux 5.11+)');
  const timeNamespace = timeNamespaceSupported();
  if (!timeNamespace) problems.push("no time namespaces (Linux 5.6+, CONFIG_TIME_NS): programs see the host's uptime");
  const avail = cgroupsFor();
  let cgroups: HostReport['cgroups'];
  if (avail.ok) {
    const plan = avail.tree.plan;
    cgroups = { controllers: plan.controllers, freezer: plan.v2 || plan.v1.includes('freezer'), v2: plan.v2 };
    for (const [name, placement] of Object.entries(plan.controllers)) {
      if (!placement) problems.push(`no ${name} controller: limits on ${name} cannot be enforced`);
    }
  } else {
    cgroups = { unavailable: avail.reason };
    problems.push(
      `cgroups unusable (${avail.reason}): memory, pids, cpus and cpuTime limits need limitFallback: 'rlimit'`
    );
  }
  const enforcement = enforcementOf(
    resolveSandboxLimitsWithDefaults(undefined),
    avail.ok ? avail.tree.plan.controllers : undefined
  );
  const defaultLimits = {} as HostReport['defaultLimits'];
  for (const name of ['memory', 'pids', 'disk'] as const) {
    const value = name === 'pids' ? String(DEFAULT_SANDBOX_LIMITS.pids) : formatBytes(DEFAULT_SANDBOX_LIMITS[name]);
    defaultLimits[name] = { value, enforcedBy: enforcement.defaults[name] ?? 'not enforced' };
  }
  const stateDir = defaultStateDir();
  let writableLayers: HostReport['writableLayers'];
  try {
    checkStateDir(stateDir, stateDir === process.env.SANDKIT_STATE_DIR ? 'SANDKIT_STATE_DIR' : 'stateDir');
    writableLayers = writableLayerPlacement(stateDir);
  } catch (err) {
    writableLayers = { unavailable: (err as Error).message };
    problems.push(`state directory unusable: ${(err as Error).message}`);
  }
  const sandboxStarts =
    'unavailable' in writableLayers
      ? { error: 'SandboxOptionsError', message: writableLayers.unavailable }
      : await trySandbox();
  if (sandboxStarts !== true && !problems.some((p) => p.includes(sandboxStarts.message)))
    problems.push(`a sandbox does not start: ${sandboxStarts.message}`);
  return {
    features: f,
    root,
    stateDir,
    writableLayers,
    cgroups,
    defaultLimits,
    timeNamespace,
    problems,
    sandboxStarts,
  };
}

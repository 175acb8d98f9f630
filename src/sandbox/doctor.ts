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
import { helperCheck, seccompCheck, timeNamespaceCheck, toolCheck, type HostCheck } from './host-checks.js';

export type { HostCheck } from './host-checks.js';
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
  /** Each feature: there or not, what it enables, how to get it (`sandkit doctor`'s table). */
  checks: HostCheck[];
  /** True when every core check passes (helper, user namespaces, overlay, state dir, a sandbox starts). */
  coreWorks: boolean;
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
  let f: Record<string, unknown> = {};
  let helperError: string | undefined;
  try {
    f = (await connection().request('features')).features;
  } catch (err) {
    helperError = (err as Error).message;
  }
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
      : helperError !== undefined
        ? { error: 'SandboxHelperError', message: helperError }
        : await trySandbox();
  if (sandboxStarts !== true && !problems.some((p) => p.includes(sandboxStarts.message)))
    problems.push(`a sandbox does not start: ${sandboxStarts.message}`);
  const checks = hostChecks({ f, root, helperError, writableLayers, cgroups, masked, sandboxStarts });
  const coreWorks = checks.every((c) => c.ok || !c.core);
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
    checks,
    coreWorks,
  };
}

interface Findings {
  f: Record<string, unknown>;
  root: boolean;
  helperError: string | undefined;
  writableLayers: HostReport['writableLayers'];
  cgroups: HostReport['cgroups'];
  masked: string[];
  sandboxStarts: HostReport['sandboxStarts'];
}

/** The rows of the doctor's table, core first. */
function hostChecks({ f, root, helperError, writableLayers, cgroups, masked, sandboxStarts }: Findings): HostCheck[] {
  const known = helperError === undefined;
  const userns: HostCheck = {
    id: 'userns',
    feature: 'user namespaces',
    core: true,
    ok: known && f.userns !== false,
    enables: 'every sandbox (its own root, uids and mounts)',
    detail: !known ? 'not known: the helper does not start' : f.userns === false ? 'refused' : 'available',
    ...(f.userns === false && {
      hint: root ? USERNS_FIX : `sysctl kernel.unprivileged_userns_clone=1, or run as root; ${USERNS_FIX}`,
    }),
  };
  const overlay: HostCheck = {
    id: 'overlay',
    feature: 'overlayfs in a user namespace',
    core: true,
    ok: known && f.overlayInUserns !== false,
    enables: "every sandbox's copy-on-write root",
    detail: !known
      ? 'not known'
      : f.overlayInUserns === false
        ? 'cannot be mounted'
        : `available (Linux ${String(f.kernel ?? '?')})`,
    ...(f.overlayInUserns === false && { hint: 'Linux 5.11 or later' }),
  };
  const state: HostCheck = {
    id: 'stateDir',
    feature: 'state directory',
    core: true,
    ok: !('unavailable' in writableLayers),
    enables: "sandboxes' writable layers and records",
    detail: 'unavailable' in writableLayers ? writableLayers.unavailable : writableLayers.reason,
    ...('unavailable' in writableLayers && { hint: 'set SANDKIT_STATE_DIR to a directory this user owns' }),
  };
  const starts: HostCheck = {
    id: 'sandbox',
    feature: 'a sandbox starts',
    core: true,
    ok: sandboxStarts === true,
    enables: 'the end-to-end answer: one ran `true` here',
    detail: sandboxStarts === true ? 'ran true' : `${sandboxStarts.error}: ${sandboxStarts.message}`,
  };
  const cg: HostCheck = {
    id: 'cgroups',
    feature: 'cgroups (delegated)',
    core: false,
    ok: !('unavailable' in cgroups),
    enables: 'memory, pids, cpus and cpuTime limits (else rlimit stand-ins)',
    detail:
      'unavailable' in cgroups
        ? cgroups.unavailable
        : `${cgroups.v2 ? 'v2' : 'v1'}: ${Object.entries(cgroups.controllers)
            .filter(([, p]) => p)
            .map(([c, p]) => `${c} ${String(p)}`)
            .join(', ')}`,
    ...('unavailable' in cgroups && {
      hint: root
        ? 'mount cgroup2 or the v1 controllers'
        : 'run as root, or under a delegated cgroup: systemd-run --user --scope -p Delegate=yes ...',
    }),
  };
  const io: HostCheck = {
    id: 'io',
    feature: 'io controller',
    core: false,
    ok: !('unavailable' in cgroups) && !!cgroups.controllers.io,
    enables: 'limits.ioWeight',
    detail: !('unavailable' in cgroups) && cgroups.controllers.io ? String(cgroups.controllers.io) : 'not enabled',
    hint: 'enable io in the parent cgroup.subtree_control (cgroup v2)',
  };
  const proc: HostCheck = {
    id: 'proc',
    feature: 'an unmasked /proc',
    core: false,
    ok: masked.length === 0 && !procSysReadOnly(),
    enables: "a sandbox's own /proc and its kernel-object limits",
    detail:
      masked.length > 0
        ? `masked: ${masked.slice(0, 4).join(', ')}`
        : procSysReadOnly()
          ? '/proc/sys is read-only'
          : 'as it should be',
    hint: PROC_FIX,
  };
  return [
    helperCheck(known, helperError),
    userns,
    overlay,
    state,
    starts,
    cg,
    io,
    proc,
    toolCheck({
      id: 'nft',
      feature: 'nft',
      tool: 'nft',
      args: ['--version'],
      enables: 'networks and published ports through them (root)',
      hint: 'apt-get install nftables',
      package: 'nftables',
    }),
    toolCheck({
      id: 'ip',
      feature: 'ip',
      tool: 'ip',
      args: ['-V'],
      enables: 'networks: bridges and veth pairs (root)',
      hint: 'apt-get install iproute2',
      package: 'iproute2',
    }),
    userNetworkCheck(),
    timeNamespaceCheck(),
    seccompCheck(),
  ].map((c) => (c.ok ? withoutHint(c) : c));
}

/** pasta (preferred) or slirp4netns: a rootless sandbox's way out to the network. */
function userNetworkCheck(): HostCheck {
  const spec = {
    id: 'usernet',
    enables: 'networks for rootless sandboxes',
    hint: 'apt-get install passt (or slirp4netns)',
    package: 'passt',
  };
  const pasta = toolCheck({ ...spec, feature: 'pasta', tool: 'pasta', args: ['--version'] });
  if (pasta.ok) return { ...pasta, feature: 'pasta or slirp4netns' };
  const slirp = toolCheck({ ...spec, feature: 'slirp4netns', tool: 'slirp4netns', args: ['--version'] });
  return {
    ...slirp,
    feature: 'pasta or slirp4netns',
    ...(slirp.ok ? {} : { detail: `${pasta.detail}; ${slirp.detail}` }),
  };
}

function withoutHint(c: HostCheck): HostCheck {
  const { hint: _hint, package: _package, ...rest } = c;
  return rest;
}

import { readFileSync } from 'node:fs';

/**
 * What a container runtime takes away that sandkit cannot do without, each with the setting that
 * gives it back. Read from this process's own view of the host: its mount table (Docker's masks
 * of /proc) and the errno a setup step met (seccomp's EPERM on a new user namespace).
 */

/** The fix for a /proc that a new user namespace may not mount again (masked or read-only paths). */
export const PROC_FIX =
  'run the container with --security-opt systempaths=unconfined (Docker, Podman), or securityContext.procMount: Unmasked (Kubernetes, with hostUsers: false)';
/** The fix for a seccomp profile (or AppArmor policy) that refuses user namespaces. */
export const USERNS_FIX =
  'allow user namespaces: --security-opt seccomp=unconfined or a profile allowing clone/unshare with CLONE_NEWUSER (Docker, Podman), securityContext.seccompProfile.type: Unconfined (Kubernetes); on Ubuntu 23.10+ hosts also kernel.apparmor_restrict_unprivileged_userns=0';

/**
 * Paths under /proc covered by another mount, except empty directories the kernel lets a new
 * procfs hide (binfmt_misc): with any of them a user namespace may not mount a fresh /proc,
 * as in a container with Docker's default masked paths (/proc/kcore, /proc/keys, …).
 */
export function procOvermounts(mountinfo = readMountinfo()): string[] {
  const covered: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const target = fields[4];
    const sep = fields.indexOf('-');
    if (!target?.startsWith('/proc/') || sep < 0) continue;
    if (fields[sep + 1] === 'binfmt_misc') continue;
    covered.push(target.replace(/\\040/g, ' '));
  }
  return covered;
}

/** True when /proc/sys is read-only here, as Docker mounts it by default. */
export function procSysReadOnly(mountinfo = readMountinfo()): boolean {
  return mountinfo.split('\n').some((line) => {
    const fields = line.split(' ');
    return fields[4] === '/proc/sys' && (fields[5] ?? '').split(',').includes('ro');
  });
}

function readMountinfo(): string {
  try {
    // The mount table of one process: small, and written by the kernel, not by a sandbox.
    return readFileSync('/proc/self/mountinfo', 'utf8').slice(0, 4 << 20);
  } catch {
    return '';
  }
}

/** A failed setup step, as much of it as decides whether a container setting caused it. */
export interface FailedStep {
  step: string;
  errnoCode: string | null;
}

/**
 * The container setting behind a failed sandbox setup step, as `[what is missing, how to fix it]`,
 * or undefined when the failure is not one a container's configuration explains.
 */
export function containerCause(failure: FailedStep): [string, string] | undefined {
  const { step, errnoCode } = failure;
  if ((step === 'mount.proc' || step === 'spawn.proc') && (errnoCode === 'EPERM' || errnoCode === 'EACCES')) {
    const covered = procOvermounts();
    const what =
      covered.length > 0
        ? `/proc has paths masked by other mounts (${covered.slice(0, 4).join(', ')}${covered.length > 4 ? ', …' : ''})`
        : 'the kernel refused a fresh /proc';
    return ['fresh /proc in a user namespace', `${what}, so a user namespace may not mount its own: ${PROC_FIX}`];
  }
  if (step === 'userns.limits' && errnoCode === 'EROFS') {
    return [
      'writable /proc/sys',
      `/proc/sys is read-only here, so a sandbox's kernel-object limits (/proc/sys/user/max_*) cannot be set: ${PROC_FIX}`,
    ];
  }
  if (step === 'sandbox.clone' && errnoCode === 'EPERM') {
    return [
      'user namespaces',
      `creating a user namespace was refused (EPERM), as a container's default seccomp profile does: ${USERNS_FIX}`,
    ];
  }
  if (step === 'sandbox.clone' && errnoCode === 'ENOSPC') {
    return [
      'user namespaces',
      'user.max_user_namespaces is exhausted or 0 here: raise it (sysctl user.max_user_namespaces=15000)',
    ];
  }
  return undefined;
}

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helperPath, prebuiltHelperPath } from '../helper/helper-path.js';

/** One row of `sandkit doctor`: a feature, what it is for, and how to get it when missing. */
export interface HostCheck {
  /** A stable key, e.g. `userns`, `nft`. */
  id: string;
  /** The feature, e.g. `user namespaces`. */
  feature: string;
  /** Whether it is there and works. */
  ok: boolean;
  /** True for what every sandbox needs: without it nothing runs (doctor exits 1). */
  core: boolean;
  /** What it enables, e.g. `networks (sandkit network create)`. */
  enables: string;
  /** What was found: a version, a path, or why it fails. */
  detail: string;
  /** How to fix it when it is missing. */
  hint?: string;
  /** The Debian package that brings it, when one does. */
  package?: string;
}

/** Where host tools are looked for (`ip` and `nft` live in sbin, which a user's PATH may lack). */
const TOOL_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/** The path of an executable `name` in TOOL_PATH, or undefined. */
export function findTool(name: string): string | undefined {
  for (const dir of TOOL_PATH.split(':')) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The first line a tool prints for `args` (its version), bounded, or why it failed. */
function firstLine(path: string, args: string[]): { ok: boolean; line: string } {
  const r = spawnSync(path, args, { encoding: 'utf8', timeout: 5000, maxBuffer: 64 * 1024, env: { PATH: TOOL_PATH } });
  const line = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
  return { ok: r.status === 0, line: r.error ? r.error.message : line };
}

/** A host tool: found and answering its version flag. */
export function toolCheck(
  spec: Pick<HostCheck, 'id' | 'feature' | 'enables' | 'hint' | 'package'> & { tool: string; args: string[] }
): HostCheck {
  const { tool, args, ...row } = spec;
  const path = findTool(tool);
  if (!path) return { ...row, ok: false, core: false, detail: `no ${tool} in ${TOOL_PATH}` };
  const v = firstLine(path, args);
  return {
    ...row,
    ok: v.ok,
    core: false,
    detail: v.ok ? `${path}: ${v.line}` : `${path} ${args.join(' ')}: ${v.line}`,
  };
}

/** The helper the SDK starts: from SANDKIT_HELPER, built from source or prebuilt. */
export function helperCheck(started: boolean, reason: string | undefined): HostCheck {
  const row = {
    id: 'helper',
    feature: 'native helper',
    core: true,
    enables: 'every sandbox (the code between clone and exec)',
  };
  let path: string;
  try {
    path = helperPath();
  } catch (err) {
    return {
      ...row,
      ok: false,
      detail: (err as Error).message,
      hint: 'npm rebuild sandkit (needs a C compiler)',
      package: 'gcc libc6-dev',
    };
  }
  const kind =
    process.env.SANDKIT_HELPER && path === process.env.SANDKIT_HELPER
      ? 'from SANDKIT_HELPER'
      : path === prebuiltHelperPath()
        ? 'prebuilt'
        : 'built from source';
  return started
    ? { ...row, ok: true, detail: `${kind}: ${path}` }
    : {
        ...row,
        ok: false,
        detail: `${kind}: ${path}: ${reason ?? 'does not start'}`,
        hint: 'npm rebuild sandkit',
        package: 'gcc libc6-dev',
      };
}

/**
 * Time namespaces (CLONE_NEWTIME, Linux 5.6+): the kernel has them when /proc/self/ns/time
 * exists; whether this user may make one is tried with unshare(1) in a new user namespace.
 */
export function timeNamespaceCheck(): HostCheck {
  const row = {
    id: 'timens',
    feature: 'time namespaces',
    core: false,
    enables: "a sandbox's own monotonic and boot clocks",
  };
  if (!existsSync('/proc/self/ns/time'))
    return { ...row, ok: false, detail: 'the kernel has no time namespaces', hint: 'Linux 5.6 or later' };
  const unshare = findTool('unshare');
  if (!unshare) return { ...row, ok: true, detail: 'in the kernel (unshare(1) missing: not tried)' };
  const r = firstLine(unshare, ['--user', '--map-root-user', '--time', 'true']);
  return r.ok
    ? { ...row, ok: true, detail: 'a user namespace can make one' }
    : { ...row, ok: false, detail: `unshare --time: ${r.line}`, hint: 'allow user namespaces (see above)' };
}

/** Whether the kernel filters system calls with seccomp (the default hardening needs it). */
export function seccompCheck(): HostCheck {
  const row = {
    id: 'seccomp',
    feature: 'seccomp',
    core: false,
    enables: 'the default system call filter',
  };
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8').slice(0, 64 * 1024);
  } catch {
    // unreadable: reported as missing
  }
  const mode = /^Seccomp:\s*(\d)/m.exec(status)?.[1];
  if (mode === undefined)
    return { ...row, ok: false, detail: 'the kernel has no seccomp', hint: 'a kernel with CONFIG_SECCOMP_FILTER' };
  return {
    ...row,
    ok: true,
    detail: mode === '0' ? 'available' : `available (this process is filtered, mode ${mode})`,
  };
}

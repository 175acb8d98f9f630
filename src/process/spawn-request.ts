import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { SpawnRequest, StdioRequest } from '../helper/protocol.js';
import { SandboxPipeEnd } from './sandbox-pipe.js';
import type { ResolvedSpawnOptions, StdinFile } from './spawn-options.js';
import type { ResolvedUser } from './user.js';
import { sessionFor } from '../platform/sessions.js';
import type { Cgroup } from '../cgroup/cgroup.js';
import { rlimitsFor } from '../limits/rlimits.js';
import { formatBytes, type ResolvedSandboxLimits } from '../limits/limits.js';
import { resolveSecurity, securityRequest, type ResolvedSecurityOptions } from '../security/security-options.js';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

const DEFAULT_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  TERM: 'xterm',
};

/** What a spawn takes from its sandbox: the defaults its own options override. */
export interface SpawnDefaults {
  /** The sandbox the spawn runs in. */
  sandbox: string;
  /** Environment of the image and the sandbox, the spawn's own `env` going over it. */
  env: Record<string, string>;
  cwd: string;
  /** Whether the spawn gets its own cgroup namespace. */
  cgroupns: boolean;
  limits: ResolvedSandboxLimits;
  /** `limitFallback: 'rlimit'`: without a cgroup, limits become rlimits. */
  rlimitFallback: boolean;
  security: ResolvedSecurityOptions;
  stateDir: string | undefined;
}

/** Everything one `spawn` request is made of. */
export interface SpawnRequestParts {
  /** The process id, `<sandbox>.<n>`. */
  id: string;
  spawn: ResolvedSpawnOptions;
  defaults: SpawnDefaults;
  user: ResolvedUser;
  cgroup: Cgroup | undefined;
}

/** The helper's `spawn` request: environment, identity, stdio, cgroup, rlimits and hardening. */
export function spawnRequestFor({ id, spawn: o, defaults, user, cgroup }: SpawnRequestParts): SpawnRequest {
  const env = { ...DEFAULT_ENV, ...defaults.env, ...o.env };
  return {
    sandbox: defaults.sandbox,
    process: id,
    argv: o.argv,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd: o.cwd ?? defaults.cwd,
    uid: user.uid,
    gid: user.gid,
    groups: user.groups,
    // A terminal's input is Node's too: 'ignore' is a stdin Node ends at once.
    stdio: o.tty ? ['pipe', 'pipe', 'pipe'] : stdioRequest(o, defaults.stateDir),
    ...(o.tty && { tty: o.tty }),
    ...(fileOutputLimit(o) !== undefined && { outputLimit: fileOutputLimit(o) }),
    cgroup: cgroup?.v2Path ?? null,
    cgroupProcs: cgroup?.v1ProcsFiles() ?? [],
    cgroupns: defaults.cgroupns,
    ...(cgroup?.memoryDir() ? { memoryCgroup: cgroup.memoryDir() } : {}),
    rlimits: rlimitsFor(o.limits, defaults.limits, defaults.rlimitFallback && !cgroup),
    ...securityRequest(resolveSecurity(o.security, 'security', defaults.security)),
  };
}

/**
 * What one spawn request may carry to the sandbox's init (argv, env, cwd, groups, rlimits, the
 * seccomp filter and mask paths): native/src/ctl.h CTL_PAYLOAD_MAX, sized for the kernel's
 * ARG_MAX of 2 MiB plus the rest. A larger exec would fail with E2BIG anyway.
 */
export const SPAWN_PAYLOAD_MAX = 2 * 1024 * 1024 + 256 * 1024;

/** The bytes a spawn request takes in the init's message, as native/src/spawn.c counts them. */
export function spawnPayloadBytes(req: SpawnRequest): number {
  const strings = (list: readonly string[]) => list.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  const seccomp = req.security?.seccomp ? Buffer.byteLength(req.security.seccomp, 'base64') : 0;
  return (
    req.rlimits.length * 24 +
    seccomp +
    req.groups.length * 4 +
    strings([req.cwd]) +
    strings(req.argv) +
    strings(req.env) +
    strings(req.masks?.maskedPaths ?? []) +
    strings(req.masks?.readonlyPaths ?? []) +
    strings(req.stdio.flatMap((e) => (typeof e === 'object' && 'path' in e ? [e.path] : []))) + // files as stdio
    viewBytes(req.view)
  );
}

/** The view's records in native/src/runtime_view.c's blob: a tag, the string, a NUL each. */
function viewBytes(view: SpawnRequest['view']): number {
  if (!view) return 0;
  const records = [
    ...(view.cgroup2 !== null ? [view.cgroup2] : []),
    ...view.cgroup1,
    ...view.cpus.map(String),
    ...view.procFiles.flat(),
  ];
  return records.reduce((n, s) => n + Buffer.byteLength(s) + 2, 0);
}

/** Throws the typed error for a request the init could not take, before it is sent. */
export function checkSpawnPayload(req: SpawnRequest): void {
  const bytes = spawnPayloadBytes(req);
  if (bytes > SPAWN_PAYLOAD_MAX) {
    throw new SandboxOptionsError(
      'command',
      `argv, env and cwd take ${bytes} bytes (${formatBytes(Math.ceil(bytes / 1024) * 1024)}); one spawn carries at most ${formatBytes(SPAWN_PAYLOAD_MAX)} with the seccomp filter and mask paths`
    );
  }
}

/**
 * The helper's stdio entries. `{ data, asFile: true }` is written to a private file of this
 * session (mode 0600) that the helper copies into a sealed memfd; the caller removes it once
 * the spawn is answered (`stdinFileOf`).
 */
function stdioRequest(o: ResolvedSpawnOptions, stateDir: string | undefined): StdioRequest[] {
  let stdin: StdioRequest;
  const i = o.stdin;
  if (i === 'ignore') stdin = 'null';
  else if (i instanceof SandboxPipeEnd) stdin = { pipe: i.pipe.id };
  else if (typeof i !== 'object' || i instanceof Uint8Array || typeof (i as Readable).pipe === 'function')
    stdin = 'pipe';
  else if ('asFile' in i) {
    const file = join(sessionFor(stateDir).dir, `stdin-${randomBytes(8).toString('hex')}`);
    writeFileSync(file, i.data, { mode: 0o600, flag: 'wx' });
    stdin = { memfd: file };
  } else stdin = { path: (i as StdinFile).path };
  const output = (v: ResolvedSpawnOptions['stdout'], limit: number | undefined): StdioRequest => {
    if (v === 'ignore') return 'null';
    if (v === 'pipe') return 'pipe';
    if (v instanceof SandboxPipeEnd) return { pipe: v.pipe.id };
    return { path: v.path, ...(v.append && { append: true }), ...(limit !== undefined && { limit }) };
  };
  return [stdin, output(o.stdout, streamLimit(o, 'stdout')), output(o.stderr, streamLimit(o, 'stderr'))];
}

/** The bytes one output stream may reach: its own limit and the total, whichever is lower. */
export function streamLimit(o: ResolvedSpawnOptions, stream: 'stdout' | 'stderr'): number | undefined {
  const own = o.limits[stream],
    total = o.limits.output;
  if (own === undefined) return total;
  return total === undefined ? own : Math.min(own, total);
}

/** With both outputs in files, the helper checks their sum against `limits.output` too. */
function fileOutputLimit(o: ResolvedSpawnOptions): number | undefined {
  const isFile = (v: ResolvedSpawnOptions['stdout']) => typeof v === 'object' && !(v instanceof SandboxPipeEnd);
  return isFile(o.stdout) && isFile(o.stderr) ? o.limits.output : undefined;
}

/** The host file holding `{ data, asFile: true }` for a request, to remove once it is answered. */
export function stdinFileOf(request: SpawnRequest): string | undefined {
  const s = request.stdio[0];
  return typeof s === 'object' && 'memfd' in s ? s.memfd : undefined;
}

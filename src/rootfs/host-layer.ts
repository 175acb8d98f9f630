import {
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** Top-level host directories that make up the host image (bound read-only, or symlinks kept). */
export const HOST_SYSTEM_DIRS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** Directories every root gets, so mounts and programs find them. */
const SKELETON_DIRS: Array<[string, number]> = [
  ['proc', 0o555],
  ['dev', 0o755],
  ['sys', 0o555],
  ['tmp', 0o1777],
  ['run', 0o755],
  ['var', 0o755],
  ['var/tmp', 0o1777],
  ['root', 0o700],
  ['home', 0o755],
  ['mnt', 0o755],
  ['etc', 0o755],
];

/** Names under /etc that never enter a sandbox: secrets, the host's accounts, and files sandkit writes itself. */
const ETC_DENY = new Set([
  'passwd',
  'group',
  'subuid',
  'subgid',
  'subuid-',
  'subgid-',
  'shadow',
  'shadow-',
  'gshadow',
  'gshadow-',
  'passwd-',
  'group-',
  'sudoers',
  'sudoers.d',
  'ssl/private',
  'security/opasswd',
  'machine-id',
  'hostname',
  'hosts',
  'resolv.conf',
  'mtab',
]);

/** True for /etc entries that must not be copied: denied names, private keys, unreadable files. */
export function isSecretEtcEntry(relPath: string, st: Stats): boolean {
  if (ETC_DENY.has(relPath)) return true;
  if (/^ssh\/ssh_host_.*_key$/.test(relPath)) return true;
  if (/(^|\/)(private|.*\.key|.*\.pem-key)$/.test(relPath) && !st.isDirectory()) return true;
  if (st.isSymbolicLink()) return false;
  return (st.mode & 0o004) === 0; // not world-readable: treat as secret
}

export interface HostLayer {
  /** The lower layer: a skeleton with a filtered copy of /etc and the host's usr-merge symlinks. */
  dir: string;
  /** Host directories to bind read-only at the same path. */
  binds: string[];
}

/** Builds the host image's own layer under `dir` (done once per session). */
export function buildHostLayer(dir: string): HostLayer {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [name, mode] of SKELETON_DIRS) mkdirSync(join(dir, name), { recursive: true, mode });
  const binds: string[] = [];
  for (const name of HOST_SYSTEM_DIRS) {
    let st: Stats;
    try {
      st = lstatSync(`/${name}`);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(`/${name}`), join(dir, name));
    else if (st.isDirectory()) {
      mkdirSync(join(dir, name), { mode: 0o755 });
      binds.push(`/${name}`);
    }
  }
  copyEtc('/etc', join(dir, 'etc'), '');
  const accounts = hostAccountFiles();
  for (const [name, content] of Object.entries(accounts))
    writeFileSync(join(dir, 'etc', name), content, { mode: 0o644 });
  return { dir, binds };
}

/** An account the host image's /etc/passwd lists, beyond root and nobody. */
export interface HostImageUser {
  /** Login name: letters, digits, `_`, `.`, `-` (not starting with `-`), at most 32. */
  name: string;
  /** User id. */
  uid: number;
  /** Primary group. @defaultValue the uid */
  gid?: number;
  /** @defaultValue `/nonexistent` */
  home?: string;
  /** @defaultValue `/usr/sbin/nologin` */
  shell?: string;
}

/** A group the host image's /etc/group lists, beyond root and nogroup. */
export interface HostImageGroup {
  /** Group name, under the same rules as user names. */
  name: string;
  /** Group id. */
  gid: number;
  /** Supplementary members, by user name. @defaultValue none */
  members?: string[];
}

/** What `Image.host()` takes: accounts to list in its /etc/passwd and /etc/group. */
export interface HostImageOptions {
  /** @defaultValue none: root and nobody only */
  users?: HostImageUser[];
  /** @defaultValue none: root and nogroup only */
  groups?: HostImageGroup[];
}

const ACCOUNT_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$/;
const MAX_ACCOUNTS = 1024;

function accountName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ACCOUNT_NAME.test(value))
    throw new SandboxOptionsError(
      field,
      `expected an account name (letters, digits, _ . -, at most 32), got ${JSON.stringify(value)}`
    );
  return value;
}

function accountId(value: unknown, field: string): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xfffffffe)
    throw new SandboxOptionsError(field, `expected an id from 0 to 4294967294, got ${JSON.stringify(value)}`);
  return value as number;
}

function accountPath(value: unknown, fallback: string, field: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !value.startsWith('/') || /[:\n\0]/.test(value) || value.length > 4096)
    throw new SandboxOptionsError(
      field,
      `expected an absolute path without ':' or newlines, got ${JSON.stringify(value)}`
    );
  return value;
}

function checkKeys(value: unknown, keys: string[], field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SandboxOptionsError(field, 'expected an object');
  for (const key of Object.keys(value))
    if (!keys.includes(key)) throw new SandboxOptionsError(`${field}.${key}`, 'unknown option');
  return value as Record<string, unknown>;
}

function list(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ACCOUNTS)
    throw new SandboxOptionsError(field, `expected an array of at most ${MAX_ACCOUNTS} entries`);
  return value;
}

/** Checks `Image.host()` options; returns them normalized (undefined when they add nothing). */
export function resolveHostImageOptions(value: unknown, field = 'image'): HostImageOptions | undefined {
  if (value === undefined) return undefined;
  const o = checkKeys(value, ['users', 'groups'], field);
  const users = list(o.users, `${field}.users`).map((u, i): HostImageUser => {
    const f = `${field}.users[${i}]`;
    const r = checkKeys(u, ['name', 'uid', 'gid', 'home', 'shell'], f);
    const uid = accountId(r.uid, `${f}.uid`);
    return {
      name: accountName(r.name, `${f}.name`),
      uid,
      gid: r.gid === undefined ? uid : accountId(r.gid, `${f}.gid`),
      home: accountPath(r.home, '/nonexistent', `${f}.home`),
      shell: accountPath(r.shell, '/usr/sbin/nologin', `${f}.shell`),
    };
  });
  const groups = list(o.groups, `${field}.groups`).map((g, i): HostImageGroup => {
    const f = `${field}.groups[${i}]`;
    const r = checkKeys(g, ['name', 'gid', 'members'], f);
    return {
      name: accountName(r.name, `${f}.name`),
      gid: accountId(r.gid, `${f}.gid`),
      members: list(r.members, `${f}.members`).map((m, j) => accountName(m, `${f}.members[${j}]`)),
    };
  });
  const taken = new Set(['root', 'nobody', 'nogroup']);
  for (const [kind, names] of [
    ['users', users.map((u) => u.name)],
    ['groups', groups.map((g) => g.name)],
  ] as const) {
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (taken.has(n) || seen.has(n))
        throw new SandboxOptionsError(`${field}.${kind}[${i}].name`, `${JSON.stringify(n)} is listed already`);
      seen.add(n);
    });
  }
  return users.length || groups.length ? { users, groups } : undefined;
}

/**
 * The host image's /etc/passwd and /etc/group: root and nobody (nogroup), plus what the caller
 * adds. Never the host's own accounts, which would tell a program who else uses the machine.
 */
export function hostAccountFiles(extra: HostImageOptions = {}): { passwd: string; group: string } {
  const users = extra.users ?? [];
  const groups = extra.groups ?? [];
  const passwd = [
    'root:x:0:0:root:/root:/bin/sh',
    ...users.map(
      (u) =>
        `${u.name}:x:${u.uid}:${u.gid ?? u.uid}:${u.name}:${u.home ?? '/nonexistent'}:${u.shell ?? '/usr/sbin/nologin'}`
    ),
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  ];
  const group = [
    'root:x:0:',
    ...groups.map((g) => `${g.name}:x:${g.gid}:${(g.members ?? []).join(',')}`),
    'nogroup:x:65534:',
  ];
  return { passwd: `${passwd.join('\n')}\n`, group: `${group.join('\n')}\n` };
}

function copyEtc(src: string, dst: string, rel: string): void {
  for (const name of readdirSync(src)) {
    const relPath = rel ? `${rel}/${name}` : name;
    const from = join(src, name);
    const st = lstatSync(from);
    if (isSecretEtcEntry(relPath, st)) continue;
    const to = join(dst, name);
    try {
      if (st.isDirectory()) {
        mkdirSync(to, { mode: st.mode & 0o7777 });
        copyEtc(from, to, relPath);
      } else if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(from), to);
      } else if (st.isFile()) {
        cpSync(from, to, { preserveTimestamps: true });
      }
    } catch {
      // An /etc entry we cannot read is simply not part of the image.
    }
  }
}

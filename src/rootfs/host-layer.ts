import { cpSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** Top-level host directories that make up the host image (bound read-only, or symlinks kept). */
export const HOST_SYSTEM_DIRS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** Directories every root gets, so mounts and programs find them. */
const SKELETON_DIRS: Array<[string, number]> = [
  ['proc', 0o555], ['dev', 0o755], ['sys', 0o555], ['tmp', 0o1777], ['run', 0o755],
  ['var', 0o755], ['var/tmp', 0o1777], ['root', 0o700], ['home', 0o755], ['mnt', 0o755], ['etc', 0o755],
];

/** Names under /etc that never enter a sandbox: secrets, and files sandkit writes itself. */
const ETC_DENY = new Set([
  'shadow', 'shadow-', 'gshadow', 'gshadow-', 'passwd-', 'group-', 'sudoers', 'sudoers.d',
  'ssl/private', 'security/opasswd', 'machine-id', 'hostname', 'hosts', 'resolv.conf', 'mtab',
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
  return { dir, binds };
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

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SandboxOptionsError } from '../../errors/sandbox-error.js';
import { DOCKER_HUB } from './reference.js';

/** A user name and password (or an access token used as a password) for a registry. */
export interface RegistryPassword {
  /** The user name (no `:`). */
  username: string;
  /** The password or access token. */
  password: string;
}

/** A bearer token sent as it is (no token exchange). */
export interface RegistryToken {
  /** The token. */
  token: string;
}

/** Credentials for a registry: a user name and password, or a bearer token. */
export type RegistryAuth = RegistryPassword | RegistryToken;

const MAX_AUTH_FILE = 1 << 20;

/** Names a Docker Hub entry of `auths` may have. */
const HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];

/** Checks an `auth` option (never echoing its secret). */
export function checkAuthOption(auth: unknown): RegistryAuth | undefined {
  if (auth === undefined) return undefined;
  const ok =
    typeof auth === 'object' &&
    auth !== null &&
    (('token' in auth && typeof auth.token === 'string' && auth.token !== '') ||
      ('username' in auth &&
        'password' in auth &&
        typeof auth.username === 'string' &&
        typeof auth.password === 'string' &&
        !auth.username.includes(':')));
  if (!ok)
    throw new SandboxOptionsError('auth', 'expected { username, password } (no ":" in the user name) or { token }');
  return auth as RegistryAuth;
}

/** A small file read whole, or undefined when it does not exist or is too large to be an auth file. */
function readSmallFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_AUTH_FILE) return undefined;
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The auth files looked at, first first: `REGISTRY_AUTH_FILE`, then Docker's config.json. */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  const dockerDir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  files.push(join(dockerDir, 'config.json'));
  return files;
}

/** The key of `auths` for a registry host, without a scheme or path. */
function normalizeKey(key: string): string {
  return key
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

/**
 * Credentials for `registry` from the first auth file that has an entry for it (`auths` with a
 * base64 `user:password` in `auth`, or `username` and `password`). Unreadable or malformed
 * files are passed over: they are the user's own, and a pull without credentials still works
 * for public images.
 */
export function credentialsFor(registry: string, env: NodeJS.ProcessEnv = process.env): RegistryAuth | undefined {
  const wanted = registry === DOCKER_HUB ? HUB_KEYS.map(normalizeKey) : [registry.toLowerCase()];
  for (const file of authFiles(env)) {
    const text = readSmallFile(file);
    if (text === undefined) continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      continue;
    }
    const auths = (json as { auths?: unknown })?.auths;
    if (typeof auths !== 'object' || auths === null) continue;
    for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
      if (!wanted.includes(normalizeKey(key)) || typeof entry !== 'object' || entry === null) continue;
      const e = entry as { auth?: unknown; username?: unknown; password?: unknown; registrytoken?: unknown };
      if (typeof e.auth === 'string' && e.auth !== '') {
        const plain = Buffer.from(e.auth, 'base64').toString('utf8');
        const i = plain.indexOf(':');
        if (i > 0) return { username: plain.slice(0, i), password: plain.slice(i + 1) };
      }
      if (typeof e.username === 'string' && typeof e.password === 'string')
        return { username: e.username, password: e.password };
      if (typeof e.registrytoken === 'string' && e.registrytoken !== '') return { token: e.registrytoken };
    }
  }
  return undefined;
}

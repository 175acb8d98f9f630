/**
 * The parts of an OCI image config that sandkit applies to spawns: `env` goes under the
 * sandbox's and the spawn's own variables, `workingDir` is the default cwd, `user` the
 * default user, `entrypoint` + `cmd` the default command.
 */
export interface ImageConfig {
  /** The image's environment (`Env`). */
  env: Record<string, string>;
  /** Where programs start (`WorkingDir`). */
  workingDir?: string;
  /** The user programs run as (`User`). */
  user?: string;
  /** The image's `Entrypoint`. */
  entrypoint: string[];
  /** The image's `Cmd`. */
  cmd: string[];
  /** The image's `Labels`. */
  labels: Record<string, string>;
}

/** A config with nothing in it (host and directory images). */
export const EMPTY_CONFIG: ImageConfig = Object.freeze({ env: {}, entrypoint: [], cmd: [], labels: {} }) as ImageConfig;

/** Reads the `config` object of an OCI (or Docker) image config JSON; unknown fields are ignored. */
export function parseImageConfig(json: unknown): ImageConfig {
  const c = ((json as { config?: unknown })?.config ?? {}) as Record<string, unknown>;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const env: Record<string, string> = {};
  for (const pair of strings(c.Env)) {
    const i = pair.indexOf('=');
    if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries((c.Labels ?? {}) as Record<string, unknown>))
    if (typeof v === 'string') labels[k] = v;
  const config: ImageConfig = { env, entrypoint: strings(c.Entrypoint), cmd: strings(c.Cmd), labels };
  if (typeof c.WorkingDir === 'string' && c.WorkingDir.startsWith('/')) config.workingDir = c.WorkingDir;
  if (typeof c.User === 'string' && c.User !== '') config.user = c.User;
  return config;
}

/** The diff ids (`rootfs.diff_ids`) of an image config, bottom layer first. */
export function diffIdsOf(json: unknown): string[] {
  const ids = (json as { rootfs?: { diff_ids?: unknown } })?.rootfs?.diff_ids;
  return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
}

/** The default command with extra arguments: entrypoint + (extra when given, else cmd). */
export function defaultCommandOf(config: ImageConfig, extra: readonly string[] = []): string[] {
  return [...config.entrypoint, ...(extra.length > 0 ? extra : config.cmd)];
}

/**
 * A config `User` as a spawn's user spec: `"1000"` → 1000, `"1000:1000"` → `{ uid, gid }`,
 * a name → the name (looked up in the image's /etc/passwd), undefined when not set.
 */
export function userSpecOf(user: string | undefined): number | string | { uid: number; gid: number } | undefined {
  if (!user) return undefined;
  const [u, g] = user.split(':');
  if (/^\d+$/.test(u!) && (g === undefined || /^\d+$/.test(g)))
    return g === undefined ? Number(u) : { uid: Number(u), gid: Number(g) };
  return u;
}

/** An OCI image config blob for `config` over layers of these diff ids (export and push write the same). */
export function ociConfigBlob(
  config: ImageConfig,
  diffIds: readonly string[],
  platform: { architecture: string; variant?: string }
): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: 'linux',
      config: {
        Env: Object.entries(config.env).map(([k, v]) => `${k}=${v}`),
        Entrypoint: config.entrypoint.length ? config.entrypoint : undefined,
        Cmd: config.cmd.length ? config.cmd : undefined,
        WorkingDir: config.workingDir,
        User: config.user,
        Labels: config.labels,
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
    })
  );
}

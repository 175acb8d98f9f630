import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { MountOptions } from '../sandbox/options.js';
import { resolveSandboxLimits, resolveSpawnLimits, type SandboxLimits, type SpawnLimits } from '../limits/limits.js';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import type { UserSpec } from '../process/spawn-options.js';
import { CliUsageError } from './command.js';

/** An env file larger than this is refused (it is read whole). */
const MAX_ENV_FILE = 1 << 20;

/** The flags of `run` that map onto options, as the parser read them. */
export interface RunFlags {
  env?: string[];
  'env-file'?: string[];
  volume?: string[];
  mount?: string[];
  user?: string;
  label?: string[];
  memory?: string;
  cpus?: string;
  'pids-limit'?: string;
  disk?: string;
  'cpu-time'?: string;
  timeout?: string;
  'output-limit'?: string;
}

/**
 * `-v SRC:DST[:ro|rw]` is writable unless `:ro` (Docker's meaning); `--mount SRC:DST[:ro|rw]`
 * keeps sandkit's read-only default. SRC is a host path (relative to the current directory),
 * DST an absolute path inside.
 */
export function parseBind(spec: string, writableByDefault: boolean, flag: string, path: string): MountOptions {
  const parts = spec.split(':');
  const [source, target, mode, extra] = parts;
  const bad = (why: string) => new CliUsageError(`${flag} ${JSON.stringify(spec)}: ${why}`, path);
  if (extra !== undefined || !source || !target) throw bad('expected SRC:DST[:ro|rw]');
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw bad(`expected ro or rw after DST, got ${mode}`);
  if (!isAbsolute(target)) throw bad('DST must be an absolute path inside the sandbox');
  const readonly = mode === undefined ? !writableByDefault : mode === 'ro';
  return { source: resolve(source), target, readonly };
}

/** `-e KEY=VALUE` sets; `-e KEY` passes the host's value (left out when the host has none, as Docker does). */
function envPair(pair: string, from: string, path: string): [string, string] | undefined {
  const i = pair.indexOf('=');
  const key = i < 0 ? pair : pair.slice(0, i);
  if (!/^[^\s=]+$/.test(key)) throw new CliUsageError(`${from}: expected KEY=VALUE, got ${JSON.stringify(pair)}`, path);
  if (i >= 0) return [key, pair.slice(i + 1)];
  const host = process.env[key];
  return host === undefined ? undefined : [key, host];
}

/** Reads a file whole, refusing one past `max` bytes. */
function readCapped(file: string, max: number, path: string): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new CliUsageError(`--env-file ${file}: ${(err as Error).message}`, path);
  }
  try {
    if (fstatSync(fd).size > max) throw new CliUsageError(`--env-file ${file}: larger than ${max} bytes`, path);
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (let got = 1; got > 0 && n <= max; n += got) got = readSync(fd, buf, n, max + 1 - n, null);
    if (n > max) throw new CliUsageError(`--env-file ${file}: larger than ${max} bytes`, path);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The environment from `--env-file`s, then `-e`s (later ones win), like Docker. */
export function envOf(flags: RunFlags, path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const file of flags['env-file'] ?? []) {
    readCapped(file, MAX_ENV_FILE, path)
      .split(/\r?\n/)
      .forEach((line, n) => {
        const text = line.trim();
        if (text === '' || text.startsWith('#')) return;
        const pair = envPair(text, `--env-file ${file} line ${n + 1}`, path);
        if (pair) env[pair[0]] = pair[1];
      });
  }
  for (const item of flags.env ?? []) {
    const pair = envPair(item, '--env', path);
    if (pair) env[pair[0]] = pair[1];
  }
  return env;
}

/** `-u 1000`, `-u 1000:100`, `-u nobody`. */
export function userOf(text: string, path: string): UserSpec {
  const ids = /^(\d+)(?::(\d+))?$/.exec(text);
  if (ids) return ids[2] === undefined ? Number(ids[1]) : { uid: Number(ids[1]), gid: Number(ids[2]) };
  if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(text)) return text;
  throw new CliUsageError(`--user: expected UID, UID:GID or a user name, got ${JSON.stringify(text)}`, path);
}

/** `--label KEY=VALUE`s as a record. */
export function labelsOf(flags: RunFlags, path: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of flags.label ?? []) {
    const i = item.indexOf('=');
    if (i <= 0) throw new CliUsageError(`--label: expected KEY=VALUE, got ${JSON.stringify(item)}`, path);
    labels[item.slice(0, i)] = item.slice(i + 1);
  }
  return labels;
}

function numberOf(text: string, flag: string, path: string, integer: boolean): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new CliUsageError(
      `${flag}: expected ${integer ? 'a whole number' : 'a number'}, got ${JSON.stringify(text)}`,
      path
    );
  return n;
}

/** `--memory`, `--cpus`, `--pids-limit`, `--disk`: limits of the whole sandbox (checked by the SDK). */
export function sandboxLimitsOf(flags: RunFlags, path: string): SandboxLimits {
  const limits: SandboxLimits = {};
  if (flags.memory !== undefined) limits.memory = flags.memory;
  if (flags.cpus !== undefined) limits.cpus = numberOf(flags.cpus, '--cpus', path, false);
  if (flags['pids-limit'] !== undefined) limits.pids = numberOf(flags['pids-limit'], '--pids-limit', path, true);
  if (flags.disk !== undefined) limits.disk = flags.disk;
  asFlags(() => resolveSandboxLimits(limits), path);
  return limits;
}

/** `--cpu-time`, `--timeout`, `--output-limit`: limits of the command (checked by the SDK). */
export function spawnLimitsOf(flags: RunFlags, path: string): SpawnLimits {
  const limits: SpawnLimits = {};
  if (flags['cpu-time'] !== undefined) limits.cpuTime = flags['cpu-time'];
  if (flags.timeout !== undefined) limits.wallTime = flags.timeout;
  if (flags['output-limit'] !== undefined) limits.output = flags['output-limit'];
  asFlags(() => resolveSpawnLimits(limits), path);
  return limits;
}

/** The flag each limit comes from, for messages. */
const FLAG_OF: Record<string, string> = {
  'limits.memory': '--memory',
  'limits.cpus': '--cpus',
  'limits.pids': '--pids-limit',
  'limits.disk': '--disk',
  'limits.cpuTime': '--cpu-time',
  'limits.wallTime': '--timeout',
  'limits.output': '--output-limit',
};

/** Runs the SDK's own check, reporting a bad value under the flag's name. */
function asFlags(check: () => unknown, path: string): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof SandboxOptionsError) || !FLAG_OF[err.field]) throw err;
    throw new CliUsageError(`${FLAG_OF[err.field]}: ${err.message.replace(`invalid option ${err.field}: `, '')}`, path);
  }
}

import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { MAX_TIMER_MS } from '../limits/long-timeout.js';
import { parseBytes, parseDuration, type ByteSize, type Duration } from '../limits/units.js';

/** Names: Docker's rule (a letter or digit, then letters, digits, `_`, `.`, `-`), at most 63 characters. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
/** What a sandbox id looks like; a name may not, so `connect(x)` is never ambiguous. */
export const SANDBOX_ID = /^sb-[0-9a-f]{12}$/;
const LABEL_KEY = /^[a-zA-Z0-9]([a-zA-Z0-9_./-]{0,126}[a-zA-Z0-9])?$/;
/** At most this many labels, each value at most this long. */
export const MAX_LABELS = 64;
export const MAX_LABEL_VALUE = 1024;
/** keepLogs: true keeps 1 MiB; a size may go up to 64 MiB. */
export const DEFAULT_KEEP_LOGS = 1 << 20;
const MAX_KEEP_LOGS = 64 << 20;
/** The shortest statsInterval: reading a cgroup more often is noise and work. */
const MIN_STATS_INTERVAL_MS = 100;
/** A sandbox timeout may be at most this long (a year); longer is a typo. */
const MAX_TIMEOUT_MS = 365 * 24 * 3_600_000;

/** The operable-from-outside options of a sandbox, validated. */
export interface ResolvedControlOptions {
  /** Unique among the live sandboxes of its state directory. */
  name: string | undefined;
  /** Free-form tags that `Sandbox.list({ labels })` filters on. */
  labels: Record<string, string>;
  /** Bytes of its programs' output kept for `logs()`; 0: none. */
  keepLogs: number;
  /** Period of the `stats` event in ms; undefined: no event. */
  statsInterval: number | undefined;
  /** Lifetime in ms from creation after which the sandbox is destroyed; undefined: none. */
  timeout: number | undefined;
}

/** Checks a sandbox name. @throws {SandboxOptionsError} naming `field`. */
export function resolveName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !NAME.test(value))
    throw new SandboxOptionsError(
      field,
      `expected 1-63 letters, digits, '_', '.' or '-' starting with a letter or digit, got ${JSON.stringify(value)?.slice(0, 80)}`
    );
  if (SANDBOX_ID.test(value))
    throw new SandboxOptionsError(field, `${value} looks like a sandbox id; pick another name`);
  return value;
}

/** Checks a label set (also a `list()` filter). @throws {SandboxOptionsError} naming `field`. */
export function resolveLabels(value: unknown, field = 'labels'): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SandboxOptionsError(field, 'expected an object of string keys to string values');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_LABELS)
    throw new SandboxOptionsError(field, `at most ${MAX_LABELS} labels, got ${entries.length}`);
  const out: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (!LABEL_KEY.test(key))
      throw new SandboxOptionsError(
        `${field}.${key.slice(0, 40)}`,
        "a label key is 1-128 letters, digits, '_', '.', '/' or '-', starting and ending with a letter or digit"
      );
    if (typeof v !== 'string' || v.length > MAX_LABEL_VALUE || v.includes('\0'))
      throw new SandboxOptionsError(`${field}.${key}`, `expected a string of at most ${MAX_LABEL_VALUE} characters`);
    out[key] = v;
  }
  return out;
}

/** Checks a sandbox timeout: a duration from 1 ms to a year. @throws {SandboxOptionsError} naming `field`. */
export function resolveTimeout(value: unknown, field = 'timeout'): number {
  const ms = Math.ceil(parseDuration(field, value));
  if (ms < 1 || ms > MAX_TIMEOUT_MS)
    throw new SandboxOptionsError(field, `expected a duration from 1ms to 365 days, got ${JSON.stringify(value)}`);
  return ms;
}

/** Validates `name`, `labels`, `keepLogs`, `statsInterval` and `timeout` of the sandbox options. */
export function resolveControlOptions(options: {
  name?: unknown;
  labels?: unknown;
  keepLogs?: boolean | ByteSize;
  statsInterval?: Duration;
  timeout?: Duration;
}): ResolvedControlOptions {
  const name = options.name === undefined ? undefined : resolveName(options.name);
  let keepLogs = 0;
  const keep = options.keepLogs;
  if (keep === true) keepLogs = DEFAULT_KEEP_LOGS;
  else if (keep !== undefined && keep !== false) {
    keepLogs = parseBytes('keepLogs', keep);
    if (keepLogs < 1 || keepLogs > MAX_KEEP_LOGS)
      throw new SandboxOptionsError(
        'keepLogs',
        `expected true, false or a size from 1 byte to 64M, got ${JSON.stringify(keep)}`
      );
  }
  let statsInterval: number | undefined;
  if (options.statsInterval !== undefined) {
    statsInterval = Math.ceil(parseDuration('statsInterval', options.statsInterval));
    if (statsInterval < MIN_STATS_INTERVAL_MS || statsInterval > MAX_TIMER_MS)
      throw new SandboxOptionsError(
        'statsInterval',
        `expected a duration of at least ${MIN_STATS_INTERVAL_MS}ms, got ${JSON.stringify(options.statsInterval)}`
      );
  }
  return {
    name,
    labels: resolveLabels(options.labels),
    keepLogs,
    statsInterval,
    timeout: options.timeout === undefined ? undefined : resolveTimeout(options.timeout),
  };
}

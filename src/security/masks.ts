import { SandboxOptionsError } from '../errors/sandbox-error.js';

/**
 * Paths hidden from every spawn (Docker's list): kernel memory, keys, timers and scheduler
 * internals that leak host information or invite attacks. A file gets /dev/null over it, a
 * directory an empty read-only tmpfs. Paths that do not exist are skipped.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/sched_debug', '/proc/scsi', '/proc/timer_list', '/proc/timer_stats',
  '/sys/devices/virtual/powercap', '/sys/firmware',
]);

/** Paths left readable but made read-only (Docker's list): kernel tunables and triggers. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
]);

const MAX_PATHS = 64;

/** Validates a list of absolute paths inside the sandbox (no `..`, no NUL). */
export function resolveMaskPaths(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new SandboxOptionsError(field, 'expected an array of absolute paths');
  if (value.length > MAX_PATHS) throw new SandboxOptionsError(field, `at most ${MAX_PATHS} paths`);
  return value.map((p, i) => {
    if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0') || p.length > 4000) {
      throw new SandboxOptionsError(`${field}[${i}]`, `expected an absolute path, got ${JSON.stringify(p)}`);
    }
    if (p.split('/').includes('..')) throw new SandboxOptionsError(`${field}[${i}]`, 'must not contain ".."');
    return p;
  });
}

import { SandboxOptionsError } from '../errors/sandbox-error.js';

/**
 * Paths hidden from every spawn: Docker's list, plus every /proc file that shows host-wide
 * kernel state (physical pages, slabs, memory zones, I/O ranges, modules, symbols), the host's
 * hardware and disks, or host paths and identifiers (swap files, the kernel command line, the
 * boot id). What runtimes read is kept: meminfo, cpuinfo, stat, uptime, loadavg, filesystems,
 * the per-process files. A file gets /dev/null over it, a directory an empty read-only tmpfs.
 * Paths that do not exist are skipped.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  // Docker's
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
  // kernel memory and internals
  '/proc/kpageflags',
  '/proc/kpagecount',
  '/proc/kpagecgroup',
  '/proc/slabinfo',
  '/proc/vmallocinfo',
  '/proc/pagetypeinfo',
  '/proc/buddyinfo',
  '/proc/zoneinfo',
  '/proc/kallsyms',
  '/proc/modules',
  '/proc/kmsg',
  '/proc/config.gz',
  '/proc/key-users',
  '/proc/softirqs',
  '/proc/sys/kernel/random/boot_id',
  // the host's hardware, disks and files
  '/proc/iomem',
  '/proc/ioports',
  '/proc/mtrr',
  '/proc/dma',
  '/proc/bus',
  '/proc/irq',
  '/proc/driver',
  '/proc/partitions',
  '/proc/diskstats',
  '/proc/swaps',
  '/proc/consoles',
  '/proc/cmdline',
  '/proc/fs',
]);

/** Paths left readable but made read-only (Docker's list, less what is masked): kernel tunables and triggers. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze(['/proc/sys', '/proc/sysrq-trigger']);

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

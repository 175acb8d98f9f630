/**
 * The /proc files a spawn reads in place of the host's (the lxcfs set), made from the host's
 * own files when the spawn starts. Each is fixed from then on: see docs/limits.md for which
 * values are live and which are not.
 */

const KiB = 1024;

/** One meminfo line the way the kernel pads it. */
function memLine(key: string, kb: number, unit = true): string {
  return `${`${key}:`.padEnd(16)}${String(kb).padStart(8)}${unit ? ' kB' : ''}`;
}

/**
 * /proc/meminfo for a memory limit: MemTotal is the limit, MemFree and MemAvailable what the
 * limit leaves of the usage at spawn time, no swap, every other field of the host's file 0.
 */
export function meminfoFor(limitBytes: number, usedBytes: number, hostMeminfo: string): string {
  const total = Math.floor(limitBytes / KiB);
  const free = Math.max(0, Math.floor((limitBytes - usedBytes) / KiB));
  const set: Record<string, number> = { MemTotal: total, MemFree: free, MemAvailable: free };
  const keys = hostMeminfo
    .split('\n')
    .map((l) => /^([^:\s]+):\s+(\d+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null);
  const out: string[] = [];
  for (const [, key, value] of keys.length ? keys : [['', 'MemTotal', '0']]) {
    if (key === 'Hugepagesize') out.push(memLine(key, Number(value)));
    else out.push(memLine(key!, set[key!] ?? 0, !key!.startsWith('HugePages_')));
  }
  for (const k of ['MemTotal', 'MemFree', 'MemAvailable'])
    if (!keys.some((m) => m[1] === k)) out.push(memLine(k, set[k]!));
  return `${out.join('\n')}\n`;
}

/** Splits /proc/cpuinfo into its per-CPU blocks, by the CPU number each names. */
function cpuinfoBlocks(hostCpuinfo: string): Map<number, string> {
  const blocks = new Map<number, string>();
  for (const block of hostCpuinfo.split(/\n\s*\n/)) {
    const m = /^processor\s*:\s*(\d+)/m.exec(block);
    if (m) blocks.set(Number(m[1]), block.trim());
  }
  return blocks;
}

/**
 * /proc/cpuinfo with only the blocks of `cpus`, numbered from 0 as lxcfs does (and with
 * `siblings` and `cpu cores` saying how many there are).
 */
export function cpuinfoFor(cpus: readonly number[], hostCpuinfo: string): string {
  const blocks = cpuinfoBlocks(hostCpuinfo);
  const out: string[] = [];
  cpus.forEach((cpu, i) => {
    const block = blocks.get(cpu) ?? blocks.values().next().value ?? `processor\t: ${cpu}`;
    out.push(
      block
        .replace(/^processor(\s*):\s*\d+/m, `processor$1: ${i}`)
        .replace(/^siblings(\s*):\s*\d+/m, `siblings$1: ${cpus.length}`)
        .replace(/^cpu cores(\s*):\s*\d+/m, `cpu cores$1: ${cpus.length}`)
    );
  });
  return `${out.join('\n\n')}\n\n`;
}

/**
 * /proc/stat with the lines of `cpus` only (renumbered from 0, the `cpu` line their sum) as
 * they were at spawn time; `btime` the sandbox's start where it has its own boot clock.
 */
export function statFor(cpus: readonly number[], hostStat: string, btime?: number): string {
  const perCpu = new Map<number, number[]>();
  let hostBtime = 0;
  for (const line of hostStat.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m) perCpu.set(Number(m[1]), m[2]!.trim().split(/\s+/).map(Number));
    const b = /^btime\s+(\d+)/.exec(line);
    if (b) hostBtime = Number(b[1]);
  }
  const rows = cpus.map((c) => perCpu.get(c) ?? new Array<number>(10).fill(0));
  const sum = new Array<number>(rows[0]?.length ?? 10).fill(0);
  for (const r of rows) r.forEach((v, i) => (sum[i] = (sum[i] ?? 0) + v));
  return [
    `cpu  ${sum.join(' ')}`,
    ...rows.map((r, i) => `cpu${i} ${r.join(' ')}`),
    'intr 0',
    'ctxt 0',
    `btime ${btime ?? hostBtime}`,
    'processes 1',
    'procs_running 1',
    'procs_blocked 0',
    'softirq 0 0 0 0 0 0 0 0 0 0 0',
    '',
  ].join('\n');
}

/**
 * /proc/swaps without any swap (sandkit turns swap off for limited memory): empty, as the
 * default masks leave it, rather than the kernel's header line.
 */
export const SWAPS_EMPTY = '';

/** /proc/loadavg of a sandbox that has just started one program. */
export const LOADAVG_IDLE = '0.00 0.00 0.00 1/1 2\n';

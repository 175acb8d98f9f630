import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** CPU numbers the kernel's affinity masks hold here (CONFIG_NR_CPUS is at most this). */
export const MAX_CPU = 1023;

/**
 * Parses a CPU list as the kernel writes it (`'0-1,4'`) or an array of CPU numbers (`[0, 2]`)
 * into sorted, distinct CPU numbers. @throws {SandboxOptionsError} naming `field`
 */
export function parseCpuList(value: unknown, field: string): number[] {
  const cpus = new Set<number>();
  const add = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 0 || n > MAX_CPU)
      throw new SandboxOptionsError(field, `${what}: expected CPU numbers from 0 to ${MAX_CPU}`);
    cpus.add(n);
  };
  if (Array.isArray(value)) {
    for (const n of value) add(typeof n === 'number' ? n : NaN, `got ${JSON.stringify(n)}`);
  } else if (typeof value === 'string') {
    for (const part of value.split(',')) {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
      if (!m) throw new SandboxOptionsError(field, `expected a CPU list such as '0-1,3', got ${JSON.stringify(value)}`);
      const from = Number(m[1]),
        to = m[2] === undefined ? from : Number(m[2]);
      if (to < from) throw new SandboxOptionsError(field, `range ${part.trim()} runs backwards`);
      for (let n = from; n <= Math.min(to, MAX_CPU + 1); n++) add(n, `got ${JSON.stringify(value)}`);
    }
  } else {
    throw new SandboxOptionsError(
      field,
      `expected a CPU list such as '0-1' or an array such as [0], got ${JSON.stringify(value)}`
    );
  }
  if (cpus.size === 0) throw new SandboxOptionsError(field, 'names no CPU');
  return [...cpus].sort((a, b) => a - b);
}

/** The kernel's list form: `[0, 1, 2, 5]` → `'0-2,5'`. */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; i++) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(j === i ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j;
  }
  return parts.join(',');
}

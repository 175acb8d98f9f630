import { readFileSync, writeFileSync } from 'node:fs';

/** Reads a cgroup file, or undefined when it does not exist (a controller or kernel too old). */
export function readCgroupFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a cgroup file; the kernel validates the value. */
export function writeCgroupFile(path: string, value: string | number): void {
  writeFileSync(path, String(value));
}

/** Parses "key value" lines (memory.events, cpu.stat, ...) into numbers. */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out[key] = Number(value);
  }
  return out;
}

/** Parses a single number file such as memory.peak; 'max' becomes Infinity. */
export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return t === 'max' ? Infinity : Number(t);
}

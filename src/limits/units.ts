import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** A size: a number of bytes, or a string such as `'256M'`, `'1.5G'`, `'64k'`, `'512'`. */
export type ByteSize = number | string;
/** A duration: a number of milliseconds, or a string such as `'250ms'`, `'2s'`, `'1.5m'`. */
export type Duration = number | string;

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};
const TIME_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

function parseUnit(field: string, value: unknown, units: Record<string, number>, kind: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new SandboxOptionsError(field, `expected a non-negative ${kind}, got ${value}`);
  }
  if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    const factor = m ? units[m[2]!.toLowerCase()] : undefined;
    if (m && factor !== undefined) return Number(m[1]) * factor;
  }
  throw new SandboxOptionsError(
    field,
    `expected a ${kind} such as ${kind === 'size' ? "'256M' or 1048576" : "'2s' or 500"}, got ${JSON.stringify(value)}`
  );
}

/** Parses a size option into whole bytes; `field` names the option in the error. */
export function parseBytes(field: string, value: unknown): number {
  return Math.floor(parseUnit(field, value, BYTE_UNITS, 'size'));
}

/** Parses a duration option into milliseconds; `field` names the option in the error. */
export function parseDuration(field: string, value: unknown): number {
  return parseUnit(field, value, TIME_UNITS, 'duration');
}

import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// Opt-in timing of the cold path (bench/cold-profile.mjs): with SANDKIT_TRACE_STEPS naming a
// file, Node's steps are appended to it as "node <step> <microseconds>" lines, next to the
// helper's own. Off, a traced step costs one comparison and reads no clock.
const file = process.env.SANDKIT_TRACE_STEPS;
const on = file !== undefined && file.startsWith('/');
const lines: string[] = [];
let flushHooked = false;

/** The start of a step: a timestamp when tracing, else 0. */
export function traceNow(): number {
  return on ? performance.now() : 0;
}

/** Records that step `what` took from `t0` until now (buffered; written at exit). */
export function traceSince(what: string, t0: number): void {
  if (!on) return;
  lines.push(`node ${what} ${Math.round((performance.now() - t0) * 1000)}\n`);
  if (!flushHooked) {
    flushHooked = true;
    process.once('exit', flushTrace);
  }
  if (lines.length >= 4096) flushTrace();
}

function flushTrace(): void {
  if (lines.length === 0) return;
  try {
    appendFileSync(file!, lines.join(''));
  } catch {
    // tracing is best effort
  }
  lines.length = 0;
}

import type { TtySize } from '../process/spawn-options.js';

/** The host side of `sandkit run -t`: the terminal's size, raw mode for `-it`, window changes. */
export interface HostTerminal {
  /** The size to give the program: the host terminal's, else 80 x 24. */
  size(): Required<TtySize>;
  /** Raw mode on the host terminal (with -i) and window changes forwarded to the program. */
  attach(proc: { resize(cols: number, rows: number): unknown }): void;
  /** The host terminal as it was; safe to call more than once. */
  restore(): void;
}

/**
 * Like `docker run -it`: with `-i` and a terminal on stdin, it goes to raw mode, so every key
 * (^C, ^Z, ^D included) is a byte for the program's terminal, which turns it into a signal for
 * the program. The mode is restored on every way out: the run's `finally`, and an `exit`
 * handler for a process that ends without unwinding (an uncaught error, `process.exit`).
 */
export function hostTerminal(interactive: boolean): HostTerminal {
  const stdin = process.stdin;
  const out = process.stdout;
  let raw = false;
  let onResize: (() => void) | undefined;
  const restore = () => {
    if (onResize) out.off('resize', onResize);
    onResize = undefined;
    if (raw && stdin.isTTY) stdin.setRawMode(false);
    raw = false;
    process.off('exit', restore);
  };
  const size = () => ({
    cols: out.isTTY && out.columns > 0 ? out.columns : 80,
    rows: out.isTTY && out.rows > 0 ? out.rows : 24,
  });
  return {
    size,
    attach(proc) {
      process.on('exit', restore);
      if (interactive && stdin.isTTY) {
        stdin.setRawMode(true);
        raw = true;
      }
      if (out.isTTY) {
        onResize = () => {
          const { cols, rows } = size();
          proc.resize(cols, rows);
        };
        out.on('resize', onResize);
      }
    },
    restore,
  };
}

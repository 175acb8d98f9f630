import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { resolveSandboxOptions, type SandboxOptions } from '../sandbox/options.js';

/** Options of {@link SandboxPool}: its own fields, then those of every sandbox it makes. */
export interface SandboxPoolOptions extends SandboxOptions {
  /** Started sandboxes kept idle, ready to hand out (0: none kept; each acquire creates one). */
  size: number;
  /**
   * At most this many sandboxes are being created at once, so a burst of `acquire()` calls
   * cannot fork-storm the host. @defaultValue 2
   */
  refillConcurrency?: number;
  /**
   * After this many failed refills in a row, waiting `acquire()` calls reject with the last
   * failure and new ones reject at once, until a refill succeeds again. @defaultValue 3
   */
  maxRefillFailures?: number;
}

/** The pool's own fields, validated, and the options each sandbox is made with. */
export interface ResolvedPoolOptions {
  size: number;
  refillConcurrency: number;
  maxRefillFailures: number;
  sandbox: SandboxOptions;
}

/** Checks every field (the sandbox ones as `new Sandbox` would); throws `SandboxOptionsError` naming the first bad one. */
export function resolvePoolOptions(options: SandboxPoolOptions): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null)
    throw new SandboxOptionsError('options', 'expected { size, ...SandboxOptions }');
  const { size, refillConcurrency = 2, maxRefillFailures = 3, ...sandbox } = options;
  integer('size', size, 0);
  integer('refillConcurrency', refillConcurrency, 1);
  integer('maxRefillFailures', maxRefillFailures, 1);
  resolveSandboxOptions(sandbox); // throws now, not in the background
  return { size, refillConcurrency, maxRefillFailures, sandbox };
}

function integer(
  field: 'size' | 'refillConcurrency' | 'maxRefillFailures',
  value: unknown,
  min: number
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new SandboxOptionsError(field, `expected an integer ≥ ${min}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  return typeof value === 'number'
    ? String(value)
    : value === undefined
      ? 'nothing'
      : (JSON.stringify(value) ?? typeof value);
}

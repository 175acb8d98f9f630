import type { SetupFailure } from '../errors/sandbox-error.js';
import type { HelperErrorReply } from './protocol.js';

/** Turns the helper's `error` reply into the fields of a `SandboxSetupError`. */
export function setupFailureOf(reply: HelperErrorReply): SetupFailure {
  return {
    step: reply.step,
    syscall: reply.syscall ?? null,
    errno: reply.errno ?? null,
    errnoCode: reply.errnoName ?? null,
    path: reply.path ?? null,
    detail: reply.message ?? '',
  };
}

/** True for the helper's `error` reply (a rejected request), as opposed to a JS error. */
export function isErrorReply(err: unknown): err is HelperErrorReply {
  return typeof err === 'object' && err !== null && (err as { type?: unknown }).type === 'error' && 'step' in err;
}

import type { SetupFailure } from '../errors/sandbox-error.js';
import type { HelperErrorReply } from './messages.js';

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

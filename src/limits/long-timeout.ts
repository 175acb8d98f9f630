/** Node arms timers of at most 2^31 - 1 ms; a longer delay fires at once (with a warning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `setTimeout` for any delay: a delay past {@link MAX_TIMER_MS} is split into equal steps of
 * one timer that re-arms itself until the last, so `clearTimeout` on the returned timer still
 * cancels it. Timers never fire early, so the steps together are never shorter than the delay.
 */
export function setLongTimeout(callback: () => void, delayMs: number): NodeJS.Timeout {
  if (delayMs <= MAX_TIMER_MS) return setTimeout(callback, delayMs);
  let steps = Math.ceil(delayMs / MAX_TIMER_MS);
  const timer: NodeJS.Timeout = setTimeout(
    () => {
      if (--steps === 0) callback();
      else timer.refresh();
    },
    Math.ceil(delayMs / steps)
  );
  return timer;
}

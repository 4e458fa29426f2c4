/** Reads the time and sets timers. One place, so tests can control time without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Starts a timer. It never keeps the process alive on its own unless `keepAlive` is set: only work
   * that a caller is waiting for (a backoff inside a token request) may hold the process open.
   */
  setTimeout(callback: () => void, delayMs: number, options?: { keepAlive?: boolean }): NodeJS.Timeout;
  clearTimeout(timer: NodeJS.Timeout): void;
}

/** Longest delay Node's timers accept; longer ones would fire at once. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The real clock: `Date.now` and Node timers, unref'd by default (so Jest fake timers drive it too). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs, options) => {
    const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
    return options?.keepAlive ? timer : timer.unref();
  },
  clearTimeout: (timer) => clearTimeout(timer),
};

import { onAbort } from './abort-listener.js';

/** Reads the time, sets timers and sleeps: one place for all of the library's time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Starts a timer. It never keeps the process alive on its own unless `keepAlive` is set: only work
   * that a caller is waiting for (a backoff inside a token request) may hold the process open.
   */
  setTimeout(callback: () => void, delayMs: number, options?: { keepAlive?: boolean }): NodeJS.Timeout;
  clearTimeout(timer: NodeJS.Timeout): void;
  /**
   * Resolves after `delayMs`, or as soon as `signal` aborts (at once if it has): the one cancellable
   * wait. The caller tells the two apart by `signal.aborted`. Like {@link setTimeout}, it keeps the
   * process alive only with `keepAlive`.
   */
  sleep(delayMs: number, signal?: AbortSignal, options?: { keepAlive?: boolean }): Promise<void>;
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
  sleep: (delayMs, signal, options) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        stopListening?.();
        resolve();
      };
      const timer = systemClock.setTimeout(wake, delayMs, options);
      const stopListening = signal && onAbort(signal, wake);
    }),
};

/**
 * `pending`'s outcome, or a rejection with `message` if it has not settled `deadlineMs` after the call:
 * the one race against a deadline. The deadline yields to I/O that arrived in the same turn of the
 * event loop (Node fires timers before it reads sockets), so after a stalled loop an answer that came
 * in time still wins over its own deadline.
 */
export function settleWithin<T>(pending: Promise<T>, deadlineMs: number, clock: Clock, message: string, options?: { keepAlive?: boolean }): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => setImmediate(() => reject(new Error(message))), deadlineMs, options);
    pending.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * The delay before retry number `attempt` (1 for the first): exponential from `initialDelayMs`, at
 * most `maxDelayMs`, with equal jitter (a random point in the upper half), so that many clients
 * failing together do not retry together. The one backoff formula of the library.
 */
export function retryDelayMs(attempt: number, initialDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Fixed-window request budgets, one window per key (a token, a client id). A key's window opens at
 * its first request and lasts `windowMs`; within it the key may make `limit` requests.
 *
 * Memory stays bounded by the keys active within about two windows: windows that have ended carry
 * no information (the key's next request opens a new one), so they are swept at most once a window.
 * Used by {@link GenesysCloudEmulator}; not part of the public API.
 */
export class FixedWindowLimiter<Key> {
  private readonly windows = new Map<Key, { readonly endsAt: number; used: number }>();
  private nextSweepAt = 0;

  /**
   * @param limit - Requests a key may make per window.
   * @param windowMs - Length of a window, in milliseconds.
   */
  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    if (!(limit >= 0 && windowMs > 0)) throw new RangeError(`Expected a limit >= 0 and a window > 0 ms, got ${limit} per ${windowMs} ms`);
  }

  /** Windows currently kept (for tests that check memory stays bounded). */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Takes one request from `key`'s budget. Returns `undefined` when the request fits, or else the
   * milliseconds until `key`'s window ends; a refused request does not use up the budget.
   */
  take(key: Key, now = Date.now()): number | undefined {
    this.sweep(now);
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { endsAt: now + this.windowMs, used: 0 };
      this.windows.set(key, window);
    }
    if (window.used >= this.limit) return window.endsAt - now;
    window.used++;
    return undefined;
  }

  /** Forgets every window. */
  clear(): void {
    this.windows.clear();
  }

  private sweep(now: number): void {
    if (now < this.nextSweepAt) return;
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
    this.nextSweepAt = now + this.windowMs;
  }
}

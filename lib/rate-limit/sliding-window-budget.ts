/**
 * Counts requests sent on one token in a sliding window: never more than `limit` in any `windowMs`.
 * A sliding count is safe against Genesys' fixed windows, wherever they start. Requests sent in the
 * same millisecond share one entry, so memory stays bounded by both `limit` and `windowMs`.
 */
export class SlidingWindowBudget {
  /** Send times (ms) and how many requests were sent at each, oldest first, from `head` on. */
  private readonly times: number[] = [];
  private readonly counts: number[] = [];
  private head = 0;
  private used = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Requests that may be sent right now. */
  remaining(now: number): number {
    this.expire(now);
    return this.limit - this.used;
  }

  /** Records one request sent at `now`; the caller has checked {@link remaining}. */
  take(now: number): void {
    const last = this.times.length - 1;
    if (last >= this.head && this.times[last] === now) this.counts[last]++;
    else {
      this.times.push(now);
      this.counts.push(1);
    }
    this.used++;
  }

  /** When the next request may be sent: now if there is budget, else when the oldest send leaves the window. */
  nextFreeAt(now: number): number {
    return this.remaining(now) > 0 ? now : this.times[this.head] + this.windowMs;
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head] <= cutoff) {
      this.used -= this.counts[this.head];
      this.head++;
    }
    // Compact once the dead prefix dominates, so the arrays never grow with time.
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head);
      this.counts.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** One request's claim on a budget, from the moment it is sent until its answer arrives. */
export interface BudgetLease {
  readonly takenAt: number;
  /** Set once the answer arrived (or the lease was given up for lost). */
  settled: boolean;
}

/**
 * Counts requests sent on one token in a sliding window: never more than `limit` in any `windowMs`,
 * as Genesys sees them. A request counts from when it is sent until `windowMs` after its **answer**
 * arrived: Genesys counted it somewhere between the two, so however late a request reaches Genesys
 * or however slowly its answer comes back, no window on Genesys' side can hold more than `limit`
 * (a count by send time alone can be overrun by network jitter). Answers in the same millisecond
 * share one entry, so memory stays bounded by both `limit` and `windowMs`.
 *
 * The rate gate keeps one per token; `MemoryTokenStore` one per budget key. The Redis store's claim
 * script is the same rule in Lua.
 */
export class SlidingWindowBudget {
  /** Answer times (ms) and how many answers arrived at each, oldest first, from `head` on. */
  private readonly times: number[] = [];
  private readonly counts: number[] = [];
  private head = 0;
  private answered = 0;
  private readonly inFlight = new Set<BudgetLease>();

  /** The requests this replica may send in a window: all of them, or its share when other replicas use the token too. */
  private limit: number;

  constructor(
    /** The token's whole budget per window. */
    private readonly fullLimit: number,
    private readonly windowMs: number,
    /** A lease not settled after this long is taken as answered then (a request whose answer the library never saw). */
    private readonly leaseTimeoutMs: number,
  ) {
    this.limit = fullLimit;
  }

  /** Requests of the whole cluster in the window, as the shared store last said. */
  private usedInCluster = 0;

  /**
   * What a shared store last said of this token: `replicas` replicas use it (this one included), and
   * `usedInWindow` requests count in the window. When this budget is what counts (the store cannot be
   * reached), this replica counts on an equal share, not the whole.
   */
  shareWith(replicas: number, usedInWindow?: number): void {
    this.limit = Math.max(1, Math.floor(this.fullLimit / replicas));
    if (usedInWindow !== undefined) this.usedInCluster = Math.min(usedInWindow, this.fullLimit);
  }

  /**
   * The store stopped answering: from `now` this budget counts alone. Of the requests the store last
   * counted, this replica takes its share as spent (or its own, if more), so that the replicas
   * together stay within the budget for the window the store's count still covers.
   */
  countAloneFrom(now: number): void {
    this.expire(now);
    const shareOfUsed = Math.ceil((this.usedInCluster * this.limit) / this.fullLimit);
    const missing = shareOfUsed - this.answered - this.inFlight.size;
    if (missing > 0) this.record(now, missing);
  }

  /** Requests that may be sent right now. */
  remaining(now: number): number {
    this.expire(now);
    let remaining = this.limit - this.answered - this.inFlight.size;
    if (remaining <= 0 && this.inFlight.size > 0) {
      this.settleLostLeases(now); // only when out of budget: keeps the common case O(1)
      remaining = this.limit - this.answered - this.inFlight.size;
    }
    return remaining;
  }

  /** Claims budget for one request sent at `now`; the caller has checked {@link remaining}. */
  take(now: number): BudgetLease {
    return this.takeFor({ takenAt: now, settled: false });
  }

  /** Claims budget for the request of `lease`, sent at its `takenAt`: a caller with a lease object of its own allocates no other. */
  takeFor<L extends BudgetLease>(lease: L): L {
    this.inFlight.add(lease);
    return lease;
  }

  /**
   * Records that the answer to `lease`'s request arrived at `now`; with `counted` `false` (the API
   * did not count it: a 401 or a 429), the lease is given back without counting. Idempotent.
   */
  settle(lease: BudgetLease, now: number, counted = true): void {
    if (lease.settled || !this.inFlight.delete(lease)) return;
    lease.settled = true;
    if (counted) this.record(now);
  }

  /**
   * When the next request may be sent: now if there is budget; when the oldest answer leaves the
   * window; or `Infinity` when every claim is still in flight (an answer will free budget).
   */
  nextFreeAt(now: number): number {
    if (this.remaining(now) > 0) return now;
    return this.head < this.times.length ? this.times[this.head] + this.windowMs : Number.POSITIVE_INFINITY;
  }

  /**
   * When the next request may be sent at the latest: {@link nextFreeAt}, or while every claim is in
   * flight, when the oldest one's lease runs out and its window after it ends.
   */
  latestFreeAt(now: number): number {
    const next = this.nextFreeAt(now);
    if (next !== Number.POSITIVE_INFINITY) return next;
    const [oldest] = this.inFlight; // leases are kept in the order they were taken
    return oldest ? oldest.takenAt + this.leaseTimeoutMs + this.windowMs : now;
  }

  /** Counts `count` answers at `at` (one entry, whatever the count), keeping answer times in order (only a lost lease's may come before the last). */
  private record(at: number, count = 1): void {
    let index = this.times.length;
    while (index > this.head && this.times[index - 1] > at) index--;
    if (index > this.head && this.times[index - 1] === at) this.counts[index - 1] += count;
    else if (index === this.times.length) {
      this.times.push(at);
      this.counts.push(count);
    } else {
      this.times.splice(index, 0, at);
      this.counts.splice(index, 0, count);
    }
    this.answered += count;
  }

  private settleLostLeases(now: number): void {
    for (const lease of this.inFlight) {
      if (now - lease.takenAt >= this.leaseTimeoutMs) this.settle(lease, lease.takenAt + this.leaseTimeoutMs);
    }
    this.expire(now);
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head] <= cutoff) {
      this.answered -= this.counts[this.head];
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

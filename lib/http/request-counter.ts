import type { Clock } from '../clock.js';

/** Counts a client's requests in flight, so that a retired client can wait for them before it closes. */
export class RequestCounter {
  private inFlight = 0;
  /** When the last request in flight finished: while one is, the client is busy now (one clock read per idle spell, not per request). */
  private idleSince = 0;
  private readonly idleWaiters = new Set<AbortController>();

  constructor(private readonly clock: Clock) {}

  /** When the client was last busy (now while a request is in flight), in epoch milliseconds; `0` before any request. */
  get lastActiveAt(): number {
    return this.inFlight > 0 ? this.clock.now() : this.idleSince;
  }

  started(): void {
    this.inFlight++;
  }

  finished(): void {
    if (--this.inFlight > 0) return;
    this.idleSince = this.clock.now();
    for (const waiter of this.idleWaiters) waiter.abort();
  }

  /** Resolves once no request is in flight, or after `timeoutMs`, whichever comes first. */
  async whenIdle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    const idle = new AbortController();
    this.idleWaiters.add(idle);
    await this.clock.sleep(timeoutMs, idle.signal);
    this.idleWaiters.delete(idle);
  }
}

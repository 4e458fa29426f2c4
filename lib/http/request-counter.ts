import type { Clock } from '../clock.js';

/** Counts a client's requests in flight, so that a retired client can wait for them before it closes. */
export class RequestCounter {
  private inFlight = 0;
  private lastFinishedAt = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  /** When the client was last busy (now while a request is in flight), in epoch milliseconds; `0` before any request. */
  get lastActiveAt(): number {
    return this.inFlight > 0 ? this.clock.now() : this.lastFinishedAt;
  }

  started(): void {
    this.inFlight++;
  }

  finished(): void {
    this.lastFinishedAt = this.clock.now();
    if (--this.inFlight === 0) for (const wake of [...this.idleWaiters]) wake();
  }

  /** Resolves once no request is in flight, or after `timeoutMs`, whichever comes first. */
  async whenIdle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.clock.clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      const timer = this.clock.setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }
}

/** How often the watcher looks, and how late a look must be to count as a stall, in milliseconds. */
const TICK_MS = 10;
const STALL_MS = 20;

/**
 * Records when this process could not run JavaScript: a paused or overloaded machine, a long garbage
 * collection. A latency bound on the library subtracts these from a caller's time: they hold up every
 * caller alike, and a library that makes a caller wait leaves the event loop free, so its waits stay counted.
 */
export class LoopStalls {
  private readonly stalls: Array<readonly [from: number, to: number]> = [];
  private lastTickAt = Date.now();
  private readonly ticker = setInterval(() => {
    const now = Date.now();
    if (now - this.lastTickAt > TICK_MS + STALL_MS) this.stalls.push([this.lastTickAt + TICK_MS, now]);
    this.lastTickAt = now;
  }, TICK_MS).unref(); // a test failing before stop() must not hold the process open

  /** Milliseconds of `from`..`to` (epoch ms) the process was stalled. */
  within(from: number, to: number): number {
    let stalled = 0;
    for (const [start, end] of this.stalls) stalled += Math.max(0, Math.min(end, to) - Math.max(start, from));
    return stalled;
  }

  /** Milliseconds from `from` to `to` (epoch ms; now by default) during which the process could run: the wall-clock time less its stalls. */
  elapsedRunning(from: number, to = Date.now()): number {
    return to - from - this.within(from, to);
  }

  stop(): void {
    clearInterval(this.ticker);
  }
}

import { onAbort } from '../abort-listener.js';
import type { Clock } from '../clock.js';
import type { GenesysAuthError } from '../errors.js';

/** One caller in a {@link WaitingLine}. */
export interface Waiter {
  /** When the caller stops waiting (epoch ms). */
  readonly deadline: number;
  readonly since: number;
  settled: boolean;
}

interface Entry<T> extends Waiter {
  readonly resolve: (outcome: T) => void;
  readonly reject: (error: GenesysAuthError) => void;
  readonly timer: NodeJS.Timeout;
  stopListening?: () => void;
}

/**
 * Callers waiting in order (first come, first served), each until its deadline, or until its signal
 * aborts; then it leaves the line with the error the line's owner makes for it. Settled callers are
 * skipped, so leaving costs nothing whatever the caller's place in the line.
 */
export class WaitingLine<T> {
  private readonly entries: Entry<T>[] = [];
  private head = 0;
  /** Callers still waiting. */
  size = 0;

  constructor(
    private readonly clock: Clock,
    /** The error of a caller whose deadline passed, having waited `waitedMs`. */
    private readonly expired: (waitedMs: number) => GenesysAuthError,
    /** The error of a caller that aborted. */
    private readonly aborted: () => GenesysAuthError,
  ) {}

  /** Joins the line at its end; settles when served (see {@link settle}), at `deadline`, or when `signal` aborts. */
  wait(deadline: number, signal?: AbortSignal): Promise<T> {
    const since = this.clock.now();
    return new Promise<T>((resolve, reject) => {
      const entry: Entry<T> = {
        resolve,
        reject,
        since,
        deadline,
        settled: false,
        timer: this.clock.setTimeout(() => this.settle(entry, this.expired(this.clock.now() - since)), deadline - since),
      };
      if (signal) entry.stopListening = onAbort(signal, () => this.settle(entry, this.aborted()));
      this.entries.push(entry);
      this.size++;
    });
  }

  /** The caller first in line, if any. */
  first(): Waiter | undefined {
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head];
      if (!entry.settled) return entry;
      this.dequeue();
    }
    return undefined;
  }

  /** Ends `waiter`'s wait with `outcome` (an error rejects it); once only. */
  settle(waiter: Waiter, outcome: T | GenesysAuthError): void {
    const entry = waiter as Entry<T>;
    if (entry.settled) return;
    entry.settled = true;
    this.size--;
    this.clock.clearTimeout(entry.timer);
    entry.stopListening?.();
    if (outcome instanceof Error) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  /** Ends the wait of every caller for which `outcomeOf` gives an outcome (each gets its own error). */
  settleEach(outcomeOf: (waiter: Waiter) => T | GenesysAuthError | undefined): void {
    for (let index = this.head; index < this.entries.length; index++) {
      const entry = this.entries[index];
      if (entry.settled) continue;
      const outcome = outcomeOf(entry);
      if (outcome !== undefined) this.settle(entry, outcome);
    }
  }

  private dequeue(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    if (this.head === this.entries.length) {
      this.entries.length = 0;
      this.head = 0;
    }
  }
}

import type { AxiosError } from 'axios';
import { onAbort } from '../abort-listener.js';
import { retryDelayMs, type Clock } from '../clock.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { ClientTelemetry } from '../telemetry.js';
import type { GenesysTokenService } from '../token/genesys-token.service.js';
import type { RequestState } from './request-state.js';
import { parseRetryAfter } from './retry-after.js';

/** Longest wait after a 429 that came without `Retry-After`. */
const MAX_429_BACKOFF_MS = 30_000;

/** What to do after a 429: replay after `delayMs`, or not (and why). */
export type RateLimitedPlan = { delayMs: number; notReplayedBecause?: undefined } | { delayMs?: undefined; notReplayedBecause: string };

/**
 * A 429: the token that got it cools down (no request uses it until `Retry-After` has passed, at most
 * `rateLimit.maxCoolDownMs`), and the refused request is replayed after that wait if it fits in
 * `rateLimit.maxWaitMs` (counted from its first attempt) and the deprecated `rateLimitRetry` caps.
 * Without a readable `Retry-After`, a bounded exponential backoff stands in for it.
 */
export class RateLimitedReplay {
  /** Aborted at shutdown: it ends the waits in progress and starts no new one. */
  private readonly closing = new AbortController();

  constructor(
    private readonly config: ResolvedGenesysAuthConfig,
    private readonly tokens: GenesysTokenService,
    private readonly clock: Clock,
    private readonly telemetry: ClientTelemetry,
  ) {}

  /** Cools the token down if the API itself answered; says whether and when to replay. Call before the attempt gives its budget back. */
  plan(error: AxiosError, state: RequestState, answeredByApi: boolean): RateLimitedPlan {
    const now = this.clock.now();
    const retries = state.rateLimitRetries;
    const { maxWaitMs, maxCoolDownMs } = this.config.rateLimitBounds;
    const delayMs =
      parseRetryAfter(error.response?.headers['retry-after'], now, maxCoolDownMs) ?? retryDelayMs(retries + 1, 1_000, Math.min(MAX_429_BACKOFF_MS, maxCoolDownMs));
    if (answeredByApi && state.signedWith !== undefined) {
      this.tokens.coolDown(state.signedWith, delayMs);
      this.telemetry.rateLimited();
    }
    const { maxRetries, maxDelayMs } = this.config.rateLimitRetry;
    if (retries >= maxRetries) return { notReplayedBecause: `not retried after 429: ${retries} replays already (rateLimitRetry.maxRetries)` };
    if (delayMs > maxDelayMs || now + delayMs > (state.startedAt ?? now) + maxWaitMs) {
      return { notReplayedBecause: `not retried after 429: waiting ${Math.ceil(delayMs)} ms more would exceed rateLimit.maxWaitMs (${maxWaitMs} ms)` };
    }
    return { delayMs };
  }

  /**
   * Waits `delayMs` before the replay: `'waited'`, or what ended the wait first, the caller's signal
   * (`'aborted'`) or shutdown (`'closing'`, at once once closed).
   */
  async wait(state: RequestState, delayMs: number, signal?: AbortSignal): Promise<'waited' | 'aborted' | 'closing'> {
    state.rateLimitRetries++;
    if (!this.closing.signal.aborted && !signal?.aborted) {
      const woken = new AbortController();
      const wake = () => woken.abort();
      const stopListening = [onAbort(this.closing.signal, wake), signal && onAbort(signal, wake)];
      await this.clock.sleep(delayMs, woken.signal);
      for (const stop of stopListening) stop?.();
    }
    if (signal?.aborted) return 'aborted';
    if (this.closing.signal.aborted) return 'closing';
    this.telemetry.rateLimitWait('retry_after', delayMs);
    return 'waited';
  }

  /** Ends the waits in progress, so that shutdown is not held up, and starts no new one; their callers get the 429. */
  close(): void {
    this.closing.abort();
  }
}

import { CanceledError, type InternalAxiosRequestConfig } from 'axios';
import { onAbort } from '../abort-listener.js';
import type { Clock } from '../clock.js';
import { NOT_SENT, type RateGate } from '../rate-limit/rate-gate.js';
import type { ClientTelemetry } from '../telemetry.js';
import type { GenesysTokenService } from '../token/genesys-token.service.js';
import type { RequestState } from './request-state.js';

/** Finds each request a token with budget: at once when one is at hand, else after a wait the caller's signal can end. */
export class TokenWait {
  constructor(
    private readonly tokens: GenesysTokenService,
    private readonly clock: Clock,
    /** Paces requests to the per-token budgets; absent when `rateLimit` is `false`. */
    private readonly gate: RateGate | undefined,
    /** Longest a request waits, in all, for budget and after 429s. */
    private readonly maxWaitMs: number,
    private readonly telemetry: ClientTelemetry,
  ) {}

  /** A token with budget at hand (the hot path), or `undefined` when the request must wait. The budget taken stays on `state`. */
  now(state: RequestState, now: number): string | undefined {
    if (!this.gate) return this.tokens.peekAccessToken();
    state.startedAt ??= now;
    const lease = this.gate.tryTake(now);
    if (!lease) return undefined;
    state.lease = lease;
    return lease.accessToken;
  }

  /** A token with budget, after waiting for a token or in line for budget. The caller's abort signal ends the wait. */
  async later(state: RequestState, config: InternalAxiosRequestConfig): Promise<string> {
    const signal = config.signal as AbortSignal | undefined;
    if (signal?.aborted) throw new CanceledError(undefined, config);
    const immediate = this.now(state, this.clock.now());
    if (immediate !== undefined) return immediate;
    const pending = this.gate ? this.budget(state, signal) : this.tokens.getAccessToken();
    if (!signal) return pending;
    return untilAborted(pending, signal).catch((error: unknown) => {
      throw signal.aborted ? new CanceledError(undefined, config) : error;
    });
  }

  /** Waits in line for budget, until `rateLimit.maxWaitMs` after the request was first signed. */
  private async budget(state: RequestState, signal?: AbortSignal): Promise<string> {
    const waitFrom = this.clock.now();
    const acquired = await this.gate!.acquire((state.startedAt ?? waitFrom) + this.maxWaitMs, signal);
    this.telemetry.rateLimitWait('budget', this.clock.now() - waitFrom);
    if (signal?.aborted) acquired.release(NOT_SENT); // the caller gave up as the budget came: nothing will be sent
    else state.lease = acquired;
    return acquired.accessToken;
  }
}

/** `pending`, or a rejection as soon as `signal` aborts. */
function untilAborted<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stopListening = onAbort(signal, () => reject(signal.reason));
    pending.then(
      (value) => {
        stopListening();
        resolve(value);
      },
      (error: unknown) => {
        stopListening();
        reject(error);
      },
    );
  });
}

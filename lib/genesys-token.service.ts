import { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from './clock.js';
import { GenesysAuthError } from './errors.js';
import type { ResolvedGenesysAuthConfig } from './genesys-auth.options.js';
import type { GenesysToken, GenesysTokenEvent, GenesysTokenState, GenesysTokenStatus } from './interfaces/genesys-token.interface.js';
import type { GenesysTokenClient, GrantedToken } from './token-client.js';

/** A held token with the moments that govern it. */
interface HeldToken {
  readonly token: GenesysToken;
  /** Handed out only before this instant (expiry less the safety margin). */
  readonly usableUntil: number;
  /** The scheduled refresh runs at this instant. */
  readonly refreshAt: number;
}

/** Scheduled refreshes never come closer together than this, whatever lifetime the server grants. */
export const MIN_REFRESH_DELAY_MS = 1000;

let instances = 0;

/** What a token service needs besides its configuration; the client unit provides it. */
export interface GenesysTokenServiceContext {
  /** Logger context, naming the client when there are several. */
  readonly logContext: string;
  /** Where to list the refresh timer, when the app has ScheduleModule. */
  readonly schedulerRegistry?: SchedulerRegistry;
}

/**
 * Owns the current Genesys Cloud access token of one client: caches it, shares one in-flight
 * request among concurrent callers, refreshes it ahead of expiry on a timer, and retries failed
 * refreshes with backoff while the old token stays in use. Inject it (`GenesysTokenService`, or
 * `@InjectGenesysTokens(name)` for a named registration); the client unit creates and closes it.
 */
export class GenesysTokenService {
  private readonly logger: Logger;
  private readonly timerName = `genesys-auth-token-refresh-${++instances}`;
  private readonly schedulerRegistry?: SchedulerRegistry;
  private readonly eventsSubject = new Subject<GenesysTokenEvent>();
  private readonly pendingSleeps = new Set<{ timer: NodeJS.Timeout; wake: (error: GenesysAuthError) => void }>();
  private held?: HeldToken;
  private inFlight?: { promise: Promise<HeldToken>; abort: AbortController };
  private refreshTimer?: NodeJS.Timeout;
  private nextRefreshAt?: number;
  private consecutiveFailures = 0;
  private lastError?: GenesysAuthError;
  /** Fresh tokens the API refused with 401 in a row, and the last one refused (counted once). */
  private consecutiveApiRejections = 0;
  private lastRejectedToken?: string;
  private lastRefreshAt?: Date;
  /** After a failed refresh, callers without a usable token get the last error until then instead of a new request. */
  private failFastUntil = 0;
  private stopped = false;

  /** Every refresh outcome, for metrics or alerts. Completes on application shutdown. */
  readonly events$: Observable<GenesysTokenEvent> = this.eventsSubject.asObservable();

  /** @internal Created by the client unit. */
  constructor(
    private readonly config: ResolvedGenesysAuthConfig,
    private readonly client: GenesysTokenClient,
    private readonly clock: Clock,
    context: GenesysTokenServiceContext,
  ) {
    this.logger = new Logger(context.logContext);
    this.schedulerRegistry = context.schedulerRegistry;
  }

  /** The current access token, fetching one first if none is usable. */
  async getAccessToken(): Promise<string> {
    return (await this.getToken()).accessToken;
  }

  /** The held access token if it may be used right now, without waiting or fetching; otherwise `undefined`. */
  peekAccessToken(): string | undefined {
    return this.usableToken()?.accessToken;
  }

  /**
   * The current token, fetching one first if none is usable. Concurrent callers share one request.
   * @throws GenesysAuthError when no token can be had (bad credentials, outage, shutdown).
   */
  async getToken(): Promise<GenesysToken> {
    this.assertRunning();
    const usable = this.usableToken();
    if (usable) return usable;
    if (this.inFlight) return (await this.inFlight.promise).token;
    if (this.lastError && this.clock.now() < this.failFastUntil) throw this.lastError;
    return (await this.startRefresh()).token;
  }

  /** Fetches a new token now, even if the held one is still good; joins a refresh already in flight. */
  async refresh(): Promise<GenesysToken> {
    this.assertRunning();
    return (await (this.inFlight?.promise ?? this.startRefresh())).token;
  }

  /**
   * Reports a token the API refused with 401, so that the next request fetches a new one. Returns
   * whether a replay may succeed: `true` when a newer token is held or will be fetched; `false` when
   * the API refused a token obtained less than `unauthorizedRenewalIntervalMs` ago. Then the token is
   * kept, no new one is fetched (a storm of renewals would trip Genesys' token-endpoint limit), and the
   * refusal is recorded: `getState()` says `rejected_by_api`, a `rejected_by_api` event is emitted, and
   * the health indicator reports `down` after as many refused tokens in a row as failed refreshes.
   *
   * Without an argument the held token is dropped unconditionally.
   */
  invalidate(refusedAccessToken?: string): boolean {
    const held = this.held;
    if (refusedAccessToken === undefined) {
      this.held = undefined;
      return true;
    }
    if (!held || held.token.accessToken !== refusedAccessToken) return true; // a newer token is held or on its way
    if (this.clock.now() - held.token.obtainedAt.getTime() < this.config.unauthorizedRenewalIntervalMs) {
      this.onRejectedByApi(refusedAccessToken);
      return false;
    }
    this.held = undefined;
    return true;
  }

  /** Reports that the API accepted a token (any answer but 401): ends a run of refusals. */
  recordAccepted(): void {
    if (this.consecutiveApiRejections === 0) return;
    this.consecutiveApiRejections = 0;
    this.lastRejectedToken = undefined;
    this.logger.log('Genesys API accepts the token again');
  }

  /** A secret-free snapshot for observers such as health checks. */
  getState(): GenesysTokenState {
    const hasValidToken = this.usableToken() !== undefined;
    return {
      status: this.status(hasValidToken),
      hasValidToken,
      expiresAt: this.held?.token.expiresAt,
      lastRefreshAt: this.lastRefreshAt,
      nextRefreshAt: this.nextRefreshAt === undefined ? undefined : new Date(this.nextRefreshAt),
      consecutiveFailures: this.consecutiveFailures,
      consecutiveApiRejections: this.consecutiveApiRejections,
      lastError: this.lastError,
    };
  }

  private status(hasValidToken: boolean): GenesysTokenStatus {
    if (this.stopped) return 'stopped';
    if (this.inFlight) return 'refreshing';
    if (this.consecutiveFailures > 0) return 'failing';
    if (this.consecutiveApiRejections > 0) return 'rejected_by_api';
    return hasValidToken ? 'valid' : 'no_token';
  }

  /**
   * Fetches the first token while the application starts, when `fetchTokenOnStartup` is on. One
   * attempt only, bounded by `tokenRequestTimeoutMs`: start-up is never held for the backoff schedule.
   * A failure is logged at once and, when retryable, retried in the background after `listen()`.
   */
  async start(): Promise<void> {
    if (!this.config.fetchTokenOnStartup || this.usableToken() || this.inFlight) return;
    await this.startRefresh(1).catch(() => undefined); // recorded and logged by onRefreshFailed
  }

  /** Stops timers, cancels the in-flight request and releases sockets. Waiting callers get a `shutdown` error. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearRefreshTimer();
    const shutdown = shutdownError();
    for (const sleep of this.pendingSleeps) {
      this.clock.clearTimeout(sleep.timer);
      sleep.wake(shutdown);
    }
    this.pendingSleeps.clear();
    this.inFlight?.abort.abort();
    this.client.close();
    this.eventsSubject.complete();
  }

  private assertRunning(): void {
    if (this.stopped) throw shutdownError();
  }

  /** The held token while it may be handed out: not stopped, and before its safety margin. */
  private usableToken(): GenesysToken | undefined {
    return !this.stopped && this.held && this.clock.now() < this.held.usableUntil ? this.held.token : undefined;
  }

  private startRefresh(maxAttempts = this.config.retry.maxAttempts): Promise<HeldToken> {
    const abort = new AbortController();
    const settle = () => {
      if (this.inFlight?.abort === abort) this.inFlight = undefined;
    };
    // Outcomes are recorded after the request is no longer in flight, so an event handler that calls refresh() starts a new one.
    const promise = this.fetchWithRetry(abort.signal, maxAttempts).then(
      (held) => {
        settle();
        this.onRefreshed(held);
        return held;
      },
      (error: unknown) => {
        settle();
        // Only GenesysAuthErrors are expected here; anything else is reported without its (unvetted) message.
        const failure = error instanceof GenesysAuthError ? error : new GenesysAuthError('unavailable', 'Genesys token request failed unexpectedly');
        this.onRefreshFailed(failure);
        throw failure;
      },
    );
    this.inFlight = { promise, abort };
    return promise;
  }

  private async fetchWithRetry(signal: AbortSignal, maxAttempts: number): Promise<HeldToken> {
    for (let attempt = 1; ; attempt++) {
      try {
        const requestedAt = this.clock.now();
        const granted = await this.client.requestToken(signal);
        if (this.stopped) throw shutdownError();
        return this.dated(granted, requestedAt);
      } catch (error) {
        const failure = error as GenesysAuthError;
        if (!failure.retryable || attempt >= maxAttempts || this.stopped) throw failure;
        await this.sleep(this.backoffDelay(attempt, failure.retryAfterMs));
      }
    }
  }

  /**
   * Dates a granted token. Its lifetime counts from when it was requested, not from when the answer
   * was read, so a stalled event loop cannot make an expired token look valid; a token already past
   * its usable life on arrival is refused (as a timeout, retried with backoff).
   */
  private dated(granted: GrantedToken, requestedAt: number): HeldToken {
    const { lifetimeMs } = granted;
    const now = this.clock.now();
    const expiresAt = requestedAt + lifetimeMs;
    const usableUntil = expiresAt - Math.min(this.config.refresh.expirySafetyMarginMs, lifetimeMs / 10);
    if (now >= usableUntil) {
      throw new GenesysAuthError(
        'timeout',
        `Genesys token arrived ${now - requestedAt} ms after it was requested, past its usable lifetime of ${Math.round(usableUntil - requestedAt)} ms (a stalled event loop or a very slow answer)`,
      );
    }
    const refreshDelay = lifetimeMs * (this.config.refresh.atLifetimeFraction - Math.random() * this.config.refresh.jitterFraction);
    return {
      token: {
        accessToken: granted.accessToken,
        tokenType: granted.tokenType,
        obtainedAt: new Date(now),
        expiresAt: new Date(expiresAt),
        ...(granted.scope === undefined ? {} : { scope: granted.scope }),
      },
      usableUntil,
      refreshAt: Math.max(now + MIN_REFRESH_DELAY_MS, requestedAt + refreshDelay),
    };
  }

  /** Exponential backoff with equal jitter; a server's `Retry-After` wins, both capped at `retry.maxDelayMs`. */
  private backoffDelay(failures: number, retryAfterMs?: number): number {
    const { initialDelayMs, maxDelayMs } = this.config.retry;
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, maxDelayMs);
    const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(failures - 1, 30));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const sleep = {
        // Kept alive on purpose: callers may be waiting for this token (e.g. before listen()), and an
        // unref'd timer would let Node exit silently under them. Bounded by retry.maxDelayMs; cleared on shutdown.
        timer: this.clock.setTimeout(
          () => {
            this.pendingSleeps.delete(sleep);
            resolve();
          },
          delayMs,
          { keepAlive: true },
        ),
        wake: reject,
      };
      this.pendingSleeps.add(sleep);
    });
  }

  private onRefreshed(held: HeldToken): void {
    this.held = held;
    this.consecutiveFailures = 0;
    this.lastError = undefined;
    this.failFastUntil = 0;
    this.lastRefreshAt = held.token.obtainedAt;
    this.scheduleRefresh(held.refreshAt);
    this.logger.debug(`Genesys token obtained; expires at ${held.token.expiresAt.toISOString()}, refresh at ${new Date(held.refreshAt).toISOString()}`);
    this.eventsSubject.next({ type: 'refreshed', at: held.token.obtainedAt, expiresAt: held.token.expiresAt });
  }

  private onRejectedByApi(refusedAccessToken: string): void {
    if (this.lastRejectedToken === refusedAccessToken) return; // many callers, one refused token: counted once
    this.lastRejectedToken = refusedAccessToken;
    this.consecutiveApiRejections++;
    const now = this.clock.now();
    this.logger.warn(
      `Genesys API refused a token obtained less than ${this.config.unauthorizedRenewalIntervalMs} ms ago (401); ` +
        `callers get the 401 and no new token is fetched before that interval has passed (refused token ${this.consecutiveApiRejections} in a row)`,
    );
    this.eventsSubject.next({ type: 'rejected_by_api', at: new Date(now), consecutiveApiRejections: this.consecutiveApiRejections });
  }

  private onRefreshFailed(error: GenesysAuthError): void {
    if (this.stopped || error.code === 'shutdown') return;
    this.consecutiveFailures++;
    this.lastError = error;
    const now = this.clock.now();
    const retryIn = error.retryable
      ? this.backoffDelay(this.consecutiveFailures, error.retryAfterMs)
      : this.config.retry.maxDelayMs;
    this.failFastUntil = now + retryIn;
    if (error.retryable) {
      this.scheduleRefresh(now + retryIn);
      this.logger.warn(`${error.message}; retrying in ${Math.round(retryIn)} ms (failure ${this.consecutiveFailures} in a row)`);
    } else {
      // Credentials will not fix themselves: no background retries, callers get this error until retry.maxDelayMs passes.
      this.clearRefreshTimer();
      this.logger.error(`${error.message}; not retrying on its own`);
    }
    this.eventsSubject.next({
      type: 'refresh_failed',
      at: new Date(now),
      error,
      consecutiveFailures: this.consecutiveFailures,
      ...(error.retryable ? { nextAttemptAt: new Date(now + retryIn) } : {}),
    });
  }

  private scheduleRefresh(at: number): void {
    this.clearRefreshTimer();
    if (this.stopped) return;
    this.nextRefreshAt = at;
    const timer = this.clock.setTimeout(() => {
      this.removeFromRegistry();
      this.refreshTimer = undefined;
      this.nextRefreshAt = undefined;
      if (!this.inFlight && !this.stopped) this.startRefresh().catch(() => undefined); // outcome is recorded and logged
    }, at - this.clock.now());
    this.refreshTimer = timer;
    this.schedulerRegistry?.addTimeout(this.timerName, timer);
  }

  private clearRefreshTimer(): void {
    if (this.refreshTimer) this.clock.clearTimeout(this.refreshTimer);
    this.removeFromRegistry();
    this.refreshTimer = undefined;
    this.nextRefreshAt = undefined;
  }

  private removeFromRegistry(): void {
    // ScheduleModule may already have cleared its timeouts during shutdown.
    if (this.schedulerRegistry?.doesExist('timeout', this.timerName)) this.schedulerRegistry.deleteTimeout(this.timerName);
  }
}

function shutdownError(): GenesysAuthError {
  return new GenesysAuthError('shutdown', 'Genesys token unavailable: the application is shutting down');
}

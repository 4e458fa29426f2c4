import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Subject, type Observable } from 'rxjs';
import { GENESYS_AUTH_CLOCK, type Clock } from './clock.js';
import { GenesysAuthError } from './errors.js';
import { GENESYS_AUTH_CONFIG, type ResolvedGenesysAuthConfig } from './genesys-auth.options.js';
import type { GenesysToken, GenesysTokenEvent, GenesysTokenState } from './interfaces/genesys-token.interface.js';
import { GenesysTokenClient } from './token-client.js';

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

/**
 * Owns the current Genesys Cloud access token: caches it, shares one in-flight request among
 * concurrent callers, refreshes it ahead of expiry on a timer, and retries failed refreshes with
 * backoff while the old token stays in use.
 */
@Injectable()
export class GenesysTokenService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('GenesysAuth');
  private readonly timerName = `genesys-auth-token-refresh-${++instances}`;
  private readonly eventsSubject = new Subject<GenesysTokenEvent>();
  private readonly pendingSleeps = new Set<{ timer: NodeJS.Timeout; wake: (error: GenesysAuthError) => void }>();
  private held?: HeldToken;
  private inFlight?: { promise: Promise<HeldToken>; abort: AbortController };
  private refreshTimer?: NodeJS.Timeout;
  private nextRefreshAt?: number;
  private consecutiveFailures = 0;
  private lastError?: GenesysAuthError;
  private lastRefreshAt?: Date;
  /** After a failed refresh, callers without a usable token get the last error until then instead of a new request. */
  private failFastUntil = 0;
  private stopped = false;

  /** Every refresh outcome, for metrics or alerts. Completes on application shutdown. */
  readonly events$: Observable<GenesysTokenEvent> = this.eventsSubject.asObservable();

  constructor(
    @Inject(GENESYS_AUTH_CONFIG) private readonly config: ResolvedGenesysAuthConfig,
    private readonly client: GenesysTokenClient,
    @Inject(GENESYS_AUTH_CLOCK) private readonly clock: Clock,
    @Optional() private readonly schedulerRegistry?: SchedulerRegistry,
  ) {}

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
   * Drops the held token, e.g. after the API answered 401. Pass the token that was refused so that a
   * newer token, fetched meanwhile by another caller, is kept.
   */
  invalidate(refusedAccessToken?: string): void {
    if (!this.held) return;
    if (refusedAccessToken === undefined || refusedAccessToken === this.held.token.accessToken) this.held = undefined;
  }

  /** A secret-free snapshot for observers such as health checks. */
  getState(): GenesysTokenState {
    const hasValidToken = this.usableToken() !== undefined;
    return {
      status: this.stopped
        ? 'stopped'
        : this.inFlight
          ? 'refreshing'
          : this.consecutiveFailures > 0
            ? 'failing'
            : hasValidToken
              ? 'valid'
              : 'no_token',
      hasValidToken,
      expiresAt: this.held?.token.expiresAt,
      lastRefreshAt: this.lastRefreshAt,
      nextRefreshAt: this.nextRefreshAt === undefined ? undefined : new Date(this.nextRefreshAt),
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
    };
  }

  /** Fetches the first token while the application starts, when `fetchTokenOnStartup` is on. */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.fetchTokenOnStartup) return;
    // A failure is already logged (and retried in the background when retryable); it must not stop the application.
    await this.getToken().catch(() => undefined);
  }

  /** Stops timers, cancels the in-flight request and releases sockets. Waiting callers get a `shutdown` error. */
  onApplicationShutdown(): void {
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

  private startRefresh(): Promise<HeldToken> {
    const abort = new AbortController();
    const promise = (async () => {
      try {
        const held = await this.fetchWithRetry(abort.signal);
        this.onRefreshed(held);
        return held;
      } catch (error) {
        // Only GenesysAuthErrors are expected here; anything else is reported without its (unvetted) message.
        const failure = error instanceof GenesysAuthError ? error : new GenesysAuthError('unavailable', 'Genesys token request failed unexpectedly');
        this.onRefreshFailed(failure);
        throw failure;
      } finally {
        if (this.inFlight?.abort === abort) this.inFlight = undefined;
      }
    })();
    this.inFlight = { promise, abort };
    return promise;
  }

  private async fetchWithRetry(signal: AbortSignal): Promise<HeldToken> {
    for (let attempt = 1; ; attempt++) {
      try {
        const granted = await this.client.requestToken(signal);
        if (this.stopped) throw shutdownError();
        const obtainedAt = this.clock.now();
        const { lifetimeMs } = granted;
        const expiresAt = obtainedAt + lifetimeMs;
        const refreshDelay = lifetimeMs * (this.config.refresh.atLifetimeFraction - Math.random() * this.config.refresh.jitterFraction);
        return {
          token: {
            accessToken: granted.accessToken,
            tokenType: granted.tokenType,
            obtainedAt: new Date(obtainedAt),
            expiresAt: new Date(expiresAt),
            ...(granted.scope === undefined ? {} : { scope: granted.scope }),
          },
          usableUntil: expiresAt - Math.min(this.config.refresh.expirySafetyMarginMs, lifetimeMs / 10),
          refreshAt: obtainedAt + Math.max(MIN_REFRESH_DELAY_MS, refreshDelay),
        };
      } catch (error) {
        const failure = error as GenesysAuthError;
        if (!failure.retryable || attempt >= this.config.retry.maxAttempts || this.stopped) throw failure;
        await this.sleep(this.backoffDelay(attempt, failure.retryAfterMs));
      }
    }
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
        timer: this.clock.setTimeout(() => {
          this.pendingSleeps.delete(sleep);
          resolve();
        }, delayMs),
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

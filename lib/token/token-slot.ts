import type { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';
import { retryDelayMs, type Clock } from '../clock.js';
import { GenesysAuthError } from '../errors.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { GenesysToken, GenesysTokenEvent } from '../interfaces/genesys-token.interface.js';
import { randomUUID } from 'node:crypto';
import type { StoredToken } from '../store/genesys-token-store.js';
import type { ClientStoreKeys, StoreGuard } from '../store/store-guard.js';
import type { ClientTelemetry } from '../telemetry.js';
import type { GenesysTokenClient, GrantedToken } from './token-client.js';
import { TokenRecord } from './token-record.js';

/** A held token with the moments that govern it. */
export interface HeldToken {
  readonly token: GenesysToken;
  /** Handed out only before this instant (expiry less the safety margin). */
  readonly usableUntil: number;
  /** The scheduled refresh runs at this instant. */
  readonly refreshAt: number;
  /** Taken from the shared store (another replica fetched it, maybe before a revocation), not fetched by this slot. */
  readonly fromStore: boolean;
}

/** Scheduled refreshes never come closer together than this, whatever lifetime the server grants. */
const MIN_REFRESH_DELAY_MS = 1000;

/** What a slot shares with its pool. */
export interface TokenSlotContext {
  /** Position in the pool, 0 for the first (and usually only) slot. */
  readonly index: number;
  /** Pool size: log lines name the slot only when there are several. */
  readonly poolSize: number;
  readonly logger: Logger;
  /** Name of the refresh timer in SchedulerRegistry. */
  readonly timerName: string;
  readonly schedulerRegistry?: SchedulerRegistry;
  readonly emit: (event: GenesysTokenEvent) => void;
  readonly telemetry: ClientTelemetry;
  /** A store shared with other replicas, when the client has one. */
  readonly store?: { readonly guard: StoreGuard; readonly keys: ClientStoreKeys };
}

/** How often a replica waiting for another's refresh looks in the store. */
const STORE_POLL_MS = 100;

/** A secret-free snapshot of one slot. */
export interface TokenSlotState {
  readonly fetching: boolean;
  readonly hasValidToken: boolean;
  readonly expiresAt?: Date;
  readonly lastRefreshAt?: Date;
  readonly nextRefreshAt?: Date;
  readonly consecutiveFailures: number;
  readonly lastError?: GenesysAuthError;
}

/**
 * One token of a client and its whole lifecycle: cache, single flight, scheduled refresh, backoff and
 * fail-fast after failures. What the API said of the token it holds (budget, cool-down after a 429,
 * 401 renewals) is in the token's {@link TokenRecord}. The token service holds one slot per token of
 * its pool.
 */
export class TokenSlot {
  /** Aborted at close: ends every wait of the slot. */
  private readonly closing = new AbortController();
  private held?: HeldToken;
  /** The record of the last token taken (its budget, cool-down and 401 renewals), kept when that token is dropped. */
  private taken?: TokenRecord;
  private inFlight?: { promise: Promise<HeldToken>; abort: AbortController };
  private refreshTimer?: NodeJS.Timeout;
  private nextRefreshAt?: number;
  private consecutiveFailures = 0;
  private lastError?: GenesysAuthError;
  private lastRefreshAt?: Date;
  /** After a failed refresh, no new token request starts before this instant (the backoff). */
  private backoffUntil = 0;
  /**
   * Whether callers without a usable token get the last error until {@link backoffUntil}: after
   * refused credentials, or once a refresh used all of `retry.maxAttempts`. After a shorter run (the
   * one start-up attempt) they wait for the retries still owed to them instead.
   */
  private failFast = false;
  /**
   * When the newest token this slot has held expires. A stored token that expires no later is one it
   * held (maybe refused by the API since) or an older one, maybe revoked with it: never taken from the store.
   */
  private newestHeldExpiresAt = Number.NEGATIVE_INFINITY;
  /** The shared store's refresh lock, while this slot fetches for the cluster under it. */
  private heldLock?: { readonly key: string; readonly owner: string };
  private stopped = false;
  /** Why the slot was closed, for the error callers get afterwards. */
  private closedBecause = SHUTDOWN_REASON;
  private readonly label: string;

  constructor(
    private readonly config: ResolvedGenesysAuthConfig,
    private readonly client: GenesysTokenClient,
    private readonly clock: Clock,
    private readonly context: TokenSlotContext,
  ) {
    this.label = context.poolSize > 1 ? `token slot ${context.index}: ` : '';
  }

  /**
   * The slot's token, fetching one first if none is usable. Concurrent callers share one request.
   * @throws GenesysAuthError when no token can be had (bad credentials, outage, shutdown).
   */
  async getToken(): Promise<GenesysToken> {
    this.assertRunning();
    return this.usableToken() ?? ownError(this.pendingToken());
  }

  /** Fetches a new token now, even if the held one is still good; joins a refresh already in flight. */
  async refresh(): Promise<GenesysToken> {
    this.assertRunning();
    return ownError(this.inFlight?.promise ?? this.startRefresh());
  }

  /** The refresh a caller without a usable token joins, starts, or (while failing fast) the last error. */
  private pendingToken(): Promise<HeldToken> {
    if (this.inFlight) return this.inFlight.promise;
    const now = this.clock.now();
    if (this.lastError && now < this.backoffUntil) {
      if (this.failFast) return Promise.reject(this.lastError);
      // The retry due at the end of the backoff, started now so that callers can join it.
      return this.startRefresh(this.config.retry.maxAttempts, this.backoffUntil - now);
    }
    return this.startRefresh();
  }

  /** The held token while it may be handed out: not stopped, and before its safety margin. */
  usableToken(): GenesysToken | undefined {
    return !this.stopped && this.held && this.clock.now() < this.held.usableUntil ? this.held.token : undefined;
  }

  /** The record of the usable token, if there is one. */
  usableRecord(): TokenRecord | undefined {
    return this.usableToken() && this.taken;
  }

  /** The record of the held token, usable or not. */
  get heldRecord(): TokenRecord | undefined {
    return this.held && this.taken;
  }

  /** When the API's 401 last made this slot renew its token; `-Infinity` if never. */
  get lastUnauthorizedRenewalAt(): number {
    return this.taken?.lastUnauthorizedRenewalAt ?? Number.NEGATIVE_INFINITY;
  }

  /** The held token, usable or not (for telling which slot a refused token came from). */
  get heldToken(): GenesysToken | undefined {
    return this.held?.token;
  }

  /** Whether the held token was taken from the shared store rather than fetched by this slot. */
  get heldFromStore(): boolean {
    return this.held?.fromStore === true;
  }

  /** Whether a token request of this slot is in flight. */
  get fetching(): boolean {
    return this.inFlight !== undefined;
  }

  /** Whether the slot is backing off after a failed refresh (bad credentials, or an outage): no new request before it ends. */
  backingOff(now: number): boolean {
    return this.lastError !== undefined && now < this.backoffUntil;
  }

  /** Drops the held token: the next caller fetches a new one. */
  drop(): void {
    this.held = undefined;
  }

  /** Drops the held token because the API answered 401 to it, remembering when (renewals after 401s are bounded). */
  renewAfterUnauthorized(now: number): void {
    this.taken?.renewedAfterUnauthorized(now);
    this.drop();
  }

  /** A secret-free snapshot. */
  state(): TokenSlotState {
    return {
      fetching: this.inFlight !== undefined,
      hasValidToken: this.usableToken() !== undefined,
      expiresAt: this.held?.token.expiresAt,
      lastRefreshAt: this.lastRefreshAt,
      nextRefreshAt: this.nextRefreshAt === undefined ? undefined : new Date(this.nextRefreshAt),
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
    };
  }

  /**
   * Releases the shared store's refresh lock if this slot holds it (as `owner`, when given): at the end
   * of its fetch, or at close, before the store's connections close, so that other replicas need not
   * wait for it to lapse (up to `retry.maxDelayMs` while the fetch waits to retry).
   */
  releaseStoreLock(owner = this.heldLock?.owner): Promise<void> {
    const lock = this.heldLock;
    if (!lock || lock.owner !== owner || !this.context.store) return Promise.resolve();
    this.heldLock = undefined;
    return this.context.store.guard.releaseLock(lock.key, lock.owner);
  }

  /** Stops timers, cancels the in-flight request; waiting callers get a `shutdown` error saying `because`. */
  close(because = SHUTDOWN_REASON): void {
    if (this.stopped) return;
    this.stopped = true;
    this.closedBecause = because;
    this.clearRefreshTimer();
    this.closing.abort();
    this.inFlight?.abort.abort();
  }

  private assertRunning(): void {
    if (this.stopped) throw shutdownError(this.closedBecause);
  }

  /**
   * Starts a token request (with retries up to `maxAttempts`), after `delayMs` if given, that
   * concurrent callers can join at once.
   */
  startRefresh(maxAttempts = this.config.retry.maxAttempts, delayMs = 0): Promise<HeldToken> {
    if (delayMs > 0) this.clearRefreshTimer(); // this run is the scheduled retry
    const abort = new AbortController();
    const settle = () => {
      if (this.inFlight?.abort === abort) this.inFlight = undefined;
    };
    // Outcomes are recorded after the request is no longer in flight, so an event handler that calls refresh() starts a new one.
    const obtained = delayMs > 0 ? this.sleep(delayMs).then(() => this.obtain(abort.signal, maxAttempts)) : this.obtain(abort.signal, maxAttempts);
    const promise = obtained.then(
      (held) => {
        settle();
        this.onRefreshed(held);
        return held;
      },
      (error: unknown) => {
        settle();
        // Only GenesysAuthErrors are expected here; anything else is reported without its (unvetted) message.
        const failure = error instanceof GenesysAuthError ? error : new GenesysAuthError('unavailable', 'Genesys token request failed unexpectedly');
        this.onRefreshFailed(failure, maxAttempts >= this.config.retry.maxAttempts);
        throw failure;
      },
    );
    this.inFlight = { promise, abort };
    return promise;
  }

  /**
   * A new token: from the token endpoint, or with a shared store, from whichever replica refreshes.
   * One replica takes the store's lock and fetches, the others look in the store meanwhile and take
   * its token; if the lock holder dies, its lock lapses and another replica fetches. A store that fails
   * makes this replica fetch on its own (the guard logs it once).
   */
  private async obtain(signal: AbortSignal, maxAttempts: number): Promise<HeldToken> {
    const store = this.context.store;
    if (!store) return this.fetchWithRetry(signal, maxAttempts);
    const { guard, keys } = store;
    const { index } = this.context;
    const lockTtlMs = this.config.tokenRequestTimeoutMs + 1_000;
    // The holder renews the lock before each retry: the others wait until its whole run could have ended.
    const { maxAttempts: holderAttempts, maxDelayMs } = this.config.retry;
    const giveUpAt = this.clock.now() + holderAttempts * lockTtlMs + (holderAttempts - 1) * maxDelayMs + lockTtlMs;
    const owner = randomUUID();
    for (;;) {
      const shared = this.adoptable(await guard.getToken(keys.token(index)));
      if (shared) return shared;
      if (await guard.acquireLock(keys.lock(index), owner, lockTtlMs)) {
        this.heldLock = { key: keys.lock(index), owner };
        try {
          // The previous holder may have stored its token between our look and our lock.
          const justStored = this.adoptable(await guard.getToken(keys.token(index)));
          if (justStored) return justStored;
          const renewLock = (retryInMs: number) => guard.acquireLock(keys.lock(index), owner, retryInMs + lockTtlMs);
          const fetched = await this.fetchWithRetry(signal, maxAttempts, renewLock);
          await guard.setToken(keys.token(index), storedFrom(fetched.token));
          return fetched;
        } finally {
          await this.releaseStoreLock(owner);
        }
      }
      if (this.clock.now() >= giveUpAt) return this.fetchWithRetry(signal, maxAttempts); // the store's lock never freed
      await this.sleep(STORE_POLL_MS);
    }
  }

  /**
   * A stored token this slot may take: usable for a while yet, and newer than any it has held. At a
   * scheduled refresh the stored one may still be the held one; after a 401 or a store outage it may
   * be one the slot dropped, or an older one revoked with it, which would only earn callers 401s.
   */
  private adoptable(stored: StoredToken | undefined): HeldToken | undefined {
    if (!stored || stored.expiresAt <= this.newestHeldExpiresAt) return undefined;
    const lifetimeMs = stored.expiresAt - stored.obtainedAt;
    const held = this.heldFrom(stored, stored.obtainedAt, lifetimeMs, true);
    return this.clock.now() < held.usableUntil ? held : undefined;
  }

  /** A token from the token endpoint, retried with backoff; `beforeRetry` runs before each wait for the next attempt. */
  private async fetchWithRetry(signal: AbortSignal, maxAttempts: number, beforeRetry?: (retryInMs: number) => Promise<unknown>): Promise<HeldToken> {
    for (let attempt = 1; ; attempt++) {
      try {
        const requestedAt = this.clock.now();
        const granted = await this.context.telemetry.tokenRequest(this.client.tokenUrl, () => this.client.requestToken(signal));
        this.assertRunning();
        return this.dated(granted, requestedAt);
      } catch (error) {
        const failure = error as GenesysAuthError;
        if (!failure.retryable || attempt >= maxAttempts || this.stopped) throw failure;
        const retryInMs = this.backoffDelay(attempt, failure.retryAfterMs);
        await beforeRetry?.(retryInMs);
        await this.sleep(retryInMs);
      }
    }
  }

  /**
   * Dates a granted token. Its lifetime counts from when it was requested, not from when the answer
   * was read, so a stalled event loop cannot make an expired token look valid; a token already past
   * its usable life on arrival is refused (as a timeout, retried with backoff).
   */
  private dated(granted: GrantedToken, requestedAt: number): HeldToken {
    const held = this.heldFrom(granted, requestedAt, granted.lifetimeMs, false);
    const now = this.clock.now();
    if (now >= held.usableUntil) {
      throw new GenesysAuthError(
        'timeout',
        `Genesys token arrived ${now - requestedAt} ms after it was requested, past its usable lifetime of ${Math.round(held.usableUntil - requestedAt)} ms (a stalled event loop or a very slow answer)`,
      );
    }
    return held;
  }

  /** A token whose lifetime of `lifetimeMs` started at `lifetimeStart`, with its usable end and its refresh time. */
  private heldFrom(token: { accessToken: string; tokenType: string; scope?: string }, lifetimeStart: number, lifetimeMs: number, fromStore: boolean): HeldToken {
    const now = this.clock.now();
    const expiresAt = lifetimeStart + lifetimeMs;
    const refreshDelay = lifetimeMs * (this.config.refresh.atLifetimeFraction - Math.random() * this.config.refresh.jitterFraction);
    return {
      token: {
        accessToken: token.accessToken,
        tokenType: token.tokenType,
        obtainedAt: new Date(now),
        expiresAt: new Date(expiresAt),
        ...(token.scope === undefined ? {} : { scope: token.scope }),
      },
      usableUntil: expiresAt - Math.min(this.config.refresh.expirySafetyMarginMs, lifetimeMs / 10),
      refreshAt: Math.max(now + MIN_REFRESH_DELAY_MS, lifetimeStart + refreshDelay),
      fromStore,
    };
  }

  /** Exponential backoff with equal jitter; a server's `Retry-After` wins, both capped at `retry.maxDelayMs`. */
  private backoffDelay(failures: number, retryAfterMs?: number): number {
    const { initialDelayMs, maxDelayMs } = this.config.retry;
    return retryAfterMs === undefined ? retryDelayMs(failures, initialDelayMs, maxDelayMs) : Math.min(retryAfterMs, maxDelayMs);
  }

  /** Waits `delayMs` within a token request; fails with the `shutdown` error once the slot closes. */
  private async sleep(delayMs: number): Promise<void> {
    // Kept alive on purpose: callers may be waiting for this token (e.g. before listen()), and an
    // unref'd timer would let Node exit silently under them. Bounded by retry.maxDelayMs; ended at close.
    await this.clock.sleep(delayMs, this.closing.signal, { keepAlive: true });
    this.assertRunning();
  }

  private onRefreshed(held: HeldToken): void {
    this.held = held;
    this.newestHeldExpiresAt = Math.max(this.newestHeldExpiresAt, held.token.expiresAt.getTime());
    this.taken = new TokenRecord(held.token.accessToken, this.taken); // a new token starts afresh: Genesys counts each token on its own
    this.consecutiveFailures = 0;
    this.lastError = undefined;
    this.backoffUntil = 0;
    this.failFast = false;
    this.lastRefreshAt = held.token.obtainedAt;
    this.scheduleRefresh(held.refreshAt);
    this.context.logger.debug(`${this.label}Genesys token obtained; expires at ${held.token.expiresAt.toISOString()}, refresh at ${new Date(held.refreshAt).toISOString()}`);
    this.context.emit({ type: 'refreshed', at: held.token.obtainedAt, expiresAt: held.token.expiresAt, slot: this.context.index });
  }

  /** Records a failed refresh; `ranInFull` when it used every attempt `retry.maxAttempts` allows. */
  private onRefreshFailed(error: GenesysAuthError, ranInFull: boolean): void {
    if (this.stopped || error.code === 'shutdown') return;
    this.consecutiveFailures++;
    this.lastError = error;
    this.failFast = ranInFull || !error.retryable;
    const now = this.clock.now();
    const retryIn = error.retryable
      ? this.backoffDelay(this.consecutiveFailures, error.retryAfterMs)
      : this.config.retry.maxDelayMs;
    this.backoffUntil = now + retryIn;
    if (error.retryable) {
      this.scheduleRefresh(now + retryIn);
      this.context.logger.warn(`${this.label}${error.message}; retrying in ${Math.round(retryIn)} ms (failure ${this.consecutiveFailures} in a row)`);
    } else {
      // Credentials will not fix themselves: no background retries, callers get this error until retry.maxDelayMs passes.
      this.clearRefreshTimer();
      this.context.logger.error(`${this.label}${error.message}; not retrying on its own`);
    }
    this.context.emit({
      type: 'refresh_failed',
      at: new Date(now),
      error,
      consecutiveFailures: this.consecutiveFailures,
      slot: this.context.index,
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
    this.context.schedulerRegistry?.addTimeout(this.context.timerName, timer);
  }

  private clearRefreshTimer(): void {
    if (this.refreshTimer) this.clock.clearTimeout(this.refreshTimer);
    this.removeFromRegistry();
    this.refreshTimer = undefined;
    this.nextRefreshAt = undefined;
  }

  private removeFromRegistry(): void {
    // ScheduleModule may already have cleared its timeouts during shutdown.
    const { schedulerRegistry, timerName } = this.context;
    if (schedulerRegistry?.doesExist('timeout', timerName)) schedulerRegistry.deleteTimeout(timerName);
  }
}

/** The token of `pending`, or its failure as an error of the caller's own (the shared one as its `cause`). */
async function ownError(pending: Promise<HeldToken>): Promise<GenesysToken> {
  try {
    return (await pending).token;
  } catch (error) {
    throw error instanceof GenesysAuthError ? error.forCaller() : error;
  }
}

/** A token as a store keeps it. */
function storedFrom(token: GenesysToken): StoredToken {
  return {
    accessToken: token.accessToken,
    tokenType: token.tokenType,
    obtainedAt: token.obtainedAt.getTime(),
    expiresAt: token.expiresAt.getTime(),
    ...(token.scope === undefined ? {} : { scope: token.scope }),
  };
}

/** Why a client is closed, unless the registry says otherwise. */
export const SHUTDOWN_REASON = 'the application is shutting down';

/** The error callers get once a client is closed. */
export function shutdownError(because = SHUTDOWN_REASON): GenesysAuthError {
  return new GenesysAuthError('shutdown', `Genesys token unavailable: ${because}`);
}

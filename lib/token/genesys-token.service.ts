import { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../clock.js';
import { inspectAs } from '../errors.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { GenesysToken, GenesysTokenEvent, GenesysTokenState, GenesysTokenStatus } from '../interfaces/genesys-token.interface.js';
import type { ClientStoreKeys, StoreGuard } from '../store/store-guard.js';
import { NO_TELEMETRY, type ClientTelemetry } from '../telemetry.js';
import type { GenesysTokenClient } from './token-client.js';
import { TokenSlot } from './token-slot.js';

/** @internal What a token service needs besides its configuration; the client unit provides it. */
export interface GenesysTokenServiceContext {
  /** Logger context, naming the client when there are several. */
  readonly logContext: string;
  /** Where to list the refresh timers, when the app has ScheduleModule. */
  readonly schedulerRegistry?: SchedulerRegistry;
  /** Where token requests are reported; nothing by default. */
  readonly telemetry?: ClientTelemetry;
  /** A store shared with other replicas, when the client has one. */
  readonly store?: { readonly guard: StoreGuard; readonly keys: ClientStoreKeys };
}

let instances = 0;

/** Shortest interval between 401-driven renewals of a slot, whatever the options say: a renewed token refused is then always seen as such. */
const MIN_UNAUTHORIZED_RENEWAL_INTERVAL_MS = 100;

/** Longest interval between 401-driven renewals while the API keeps refusing fresh tokens. */
const MAX_UNAUTHORIZED_RENEWAL_INTERVAL_MS = 300_000;

/**
 * Owns the Genesys Cloud access tokens of one client: caches them, shares one in-flight request
 * among concurrent callers, refreshes each ahead of expiry on a timer, and retries failed refreshes
 * with backoff while the old token stays in use. With `tokenPool.size` > 1 it holds that many tokens
 * of the same client, each with its own lifecycle and rate budget; the methods below that hand out
 * one token use the first.
 *
 * Inject it (`GenesysTokenService`, or `@InjectGenesysTokens(name)` for a named registration); the
 * client unit creates and closes it.
 */
export class GenesysTokenService {
  private readonly logger: Logger;
  private readonly eventsSubject = new Subject<GenesysTokenEvent>();
  private readonly slots: readonly TokenSlot[];
  /** Fresh tokens the API refused with 401 in a row, and the last one refused (counted once). */
  private consecutiveApiRejections = 0;
  private lastRejectedToken?: string;
  private stopped = false;

  /** Every refresh outcome, and every fresh token the API refused, for metrics or alerts. Completes on application shutdown. */
  readonly events$: Observable<GenesysTokenEvent> = this.eventsSubject.asObservable();

  /** @internal Created by the client unit. */
  constructor(
    private readonly config: ResolvedGenesysAuthConfig,
    private readonly client: GenesysTokenClient,
    private readonly clock: Clock,
    private readonly context: GenesysTokenServiceContext,
  ) {
    this.logger = new Logger(context.logContext);
    inspectAs(this, () => ({ state: this.getState() }));
    const instance = ++instances;
    const poolSize = config.tokenPool.size;
    this.slots = Array.from(
      { length: poolSize },
      (_, index) =>
        new TokenSlot(config, client, clock, {
          index,
          poolSize,
          logger: this.logger,
          timerName: `genesys-auth-token-refresh-${instance}${index === 0 ? '' : `-${index}`}`,
          schedulerRegistry: context.schedulerRegistry,
          emit: (event) => this.eventsSubject.next(event),
          telemetry: context.telemetry ?? NO_TELEMETRY,
          store: context.store,
        }),
    );
  }

  /** The current access token, fetching one first if none is usable. */
  async getAccessToken(): Promise<string> {
    return (await this.getToken()).accessToken;
  }

  /** The held access token if it may be used right now, without waiting or fetching; otherwise `undefined`. */
  peekAccessToken(): string | undefined {
    return this.slots[0].usableToken()?.accessToken;
  }

  /**
   * The current token, fetching one first if none is usable. Concurrent callers share one request.
   * @throws GenesysAuthError when no token can be had (bad credentials, outage, shutdown).
   */
  getToken(): Promise<GenesysToken> {
    return this.slots[0].getToken();
  }

  /** Fetches a new token now, even if the held one is still good; joins a refresh already in flight. */
  refresh(): Promise<GenesysToken> {
    return this.slots[0].refresh();
  }

  /**
   * Reports a token the API refused with 401, so that the next request fetches a new one. Returns
   * whether a replay may succeed: `true` when a newer token is held or will be fetched, whatever the
   * refused token's age (a token revoked right after it was fetched is renewed too); `false` when a
   * 401 already renewed this token's slot within the renewal interval (see {@link unauthorizedRenewalIntervalMs})
   * and the slot fetched the refused token itself. A token it took from the shared store may predate
   * a revocation (another replica fetched it before), so its refusal renews once more, from the token endpoint.
   * Then the token is kept, no new one is fetched (a storm of renewals would trip Genesys'
   * token-endpoint limit), and the refusal is recorded: `getState()` says `rejected_by_api`, a
   * `rejected_by_api` event is emitted, the interval doubles, and the health indicator reports `down`
   * after as many refused tokens in a row as failed refreshes. In a pool, only the slot holding the
   * refused token is affected.
   *
   * Without an argument every held token is dropped unconditionally.
   */
  invalidate(refusedAccessToken?: string): boolean {
    if (refusedAccessToken === undefined) {
      for (const slot of this.slots) slot.drop();
      return true;
    }
    const slot = this.slots.find((candidate) => candidate.heldToken?.accessToken === refusedAccessToken);
    if (!slot) return true; // a newer token is held or on its way
    const now = this.clock.now();
    if (!slot.heldFromStore && now - slot.lastUnauthorizedRenewalAt < this.unauthorizedRenewalIntervalMs(slot.heldToken)) {
      this.onRejectedByApi(refusedAccessToken);
      return false;
    }
    slot.renewAfterUnauthorized(now);
    return true;
  }

  /**
   * How long after a 401-driven renewal of a slot another 401 may renew it again: `unauthorizedRenewalIntervalMs`
   * (or a tenth of the token's lifetime, if shorter, so that short-lived tokens are not outlived by
   * it), doubled for each fresh token the API refused in a row, up to 5 minutes; back to the start
   * once the API accepts a token.
   */
  unauthorizedRenewalIntervalMs(token: GenesysToken | undefined = this.slots[0].heldToken): number {
    const lifetimeMs = token ? token.expiresAt.getTime() - token.obtainedAt.getTime() : Number.POSITIVE_INFINITY;
    const base = Math.max(Math.min(this.config.unauthorizedRenewalIntervalMs, lifetimeMs / 10), MIN_UNAUTHORIZED_RENEWAL_INTERVAL_MS);
    return Math.min(base * 2 ** Math.min(this.consecutiveApiRejections, 30), Math.max(base, MAX_UNAUTHORIZED_RENEWAL_INTERVAL_MS));
  }

  /** When the first token's slot may next renew after a 401 (epoch ms); in the past when it may now. */
  nextUnauthorizedRenewalAt(): number {
    return this.slots[0].lastUnauthorizedRenewalAt + this.unauthorizedRenewalIntervalMs();
  }

  /** @internal Whether the API has been refusing fresh tokens (until it accepts one again). */
  get refusingFreshTokens(): boolean {
    return this.consecutiveApiRejections > 0;
  }

  /** @internal Reports that the API accepted a token (any answer but 401): ends a run of refusals. */
  recordAccepted(): void {
    if (this.consecutiveApiRejections === 0) return;
    this.consecutiveApiRejections = 0;
    this.lastRejectedToken = undefined;
    this.logger.log('Genesys API accepts the token again');
  }

  /** A secret-free snapshot for observers such as health checks. */
  getState(): GenesysTokenState {
    const now = this.clock.now();
    const first = this.slots[0].state();
    const coolDowns = this.slots.flatMap((slot, index) => {
      const until = slot.heldRecord?.coolDownEndsAt ?? 0;
      return until > now ? [{ slot: index, until: new Date(until) }] : [];
    });
    return {
      status: this.status(first.fetching, first.consecutiveFailures, first.hasValidToken),
      hasValidToken: first.hasValidToken,
      expiresAt: first.expiresAt,
      lastRefreshAt: first.lastRefreshAt,
      nextRefreshAt: first.nextRefreshAt,
      consecutiveFailures: first.consecutiveFailures,
      consecutiveApiRejections: this.consecutiveApiRejections,
      lastError: first.lastError,
      pool: {
        size: this.slots.length,
        held: this.slots.filter((slot) => slot.heldToken !== undefined).length,
        valid: this.slots.filter((slot) => slot.usableToken() !== undefined).length,
        coolingDown: coolDowns.length,
        coolDowns,
      },
    };
  }

  /**
   * Fetches the first token while the application starts, when `fetchTokenOnStartup` is on. One
   * attempt only, bounded by `tokenRequestTimeoutMs`: start-up is never held for the backoff schedule.
   * A failure is logged at once and, when retryable, retried in the background after `listen()`.
   * Further tokens of a pool are fetched when traffic needs them, one at a time.
   */
  async start(): Promise<void> {
    const first = this.slots[0];
    if (!this.config.fetchTokenOnStartup || first.usableToken() || first.fetching) return;
    await first.startRefresh(1).catch(() => undefined); // recorded and logged by the slot
  }

  /** Stops timers, cancels in-flight requests and releases sockets. Waiting callers get a `shutdown` error saying `because`. */
  close(because?: string): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const slot of this.slots) slot.close(because);
    this.client.close();
    this.eventsSubject.complete();
  }

  /** @internal Releases the shared store's refresh locks its slots hold: on close, before the store's connections close. */
  async releaseStoreLocks(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.releaseStoreLock()));
  }

  /** @internal The pool's slots, for the rate gate. */
  get pool(): readonly TokenSlot[] {
    return this.slots;
  }

  /**
   * @internal Starts fetching a token for the first empty slot, unless a slot is already fetching
   * one: a pool fills one token request at a time, so filling it cannot trip the token-endpoint limit.
   */
  fillPool(): void {
    if (this.stopped || this.slots.some((slot) => slot.fetching)) return;
    const now = this.clock.now();
    const empty = this.slots.find((slot) => !slot.usableToken() && !slot.backingOff(now));
    empty?.getToken().catch(() => undefined); // the slot records and logs the outcome
  }

  /**
   * @internal Keeps the slot holding `accessToken` out of use for `durationMs` after a 429, at most
   * `rateLimit.maxCoolDownMs`, here and (with a shared store) in every replica on this token.
   */
  coolDown(accessToken: string, durationMs: number): void {
    const boundedMs = Math.min(Math.max(0, durationMs), this.config.rateLimitBounds.maxCoolDownMs);
    this.slots.find((slot) => slot.heldToken?.accessToken === accessToken)?.heldRecord?.coolDown(this.clock.now() + boundedMs);
    const store = this.context.store;
    if (store) void store.guard.coolDown(store.keys.budget(accessToken), boundedMs);
  }

  private status(fetching: boolean, failures: number, hasValidToken: boolean): GenesysTokenStatus {
    if (this.stopped) return 'stopped';
    if (fetching) return 'refreshing';
    if (failures > 0) return 'failing';
    if (this.consecutiveApiRejections > 0) return 'rejected_by_api';
    return hasValidToken ? 'valid' : 'no_token';
  }

  private onRejectedByApi(refusedAccessToken: string): void {
    if (this.lastRejectedToken === refusedAccessToken) return; // many callers, one refused token: counted once
    this.lastRejectedToken = refusedAccessToken;
    this.consecutiveApiRejections++;
    const now = this.clock.now();
    this.logger.warn(
      `Genesys API refused a token renewed after a 401 less than ${Math.round(this.unauthorizedRenewalIntervalMs() / 2)} ms earlier; ` +
        `callers get the 401 and no new token is fetched for ${Math.round(this.unauthorizedRenewalIntervalMs())} ms (refused token ${this.consecutiveApiRejections} in a row)`,
    );
    this.eventsSubject.next({ type: 'rejected_by_api', at: new Date(now), consecutiveApiRejections: this.consecutiveApiRejections });
  }

}

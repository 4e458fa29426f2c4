import { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';
import type { Clock } from '../clock.js';
import { GenesysAuthInterceptor } from '../http/genesys-auth.interceptor.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import { GenesysHttpService } from '../http/genesys-http.service.js';
import { GenesysTokenService } from '../token/genesys-token.service.js';
import { RateGate } from '../rate-limit/rate-gate.js';
import { GenesysTokenClient } from '../token/token-client.js';
import { SHUTDOWN_REASON } from '../token/token-slot.js';
import { StoreGuard, storeKeysOf, type ClientStoreKeys } from '../store/store-guard.js';
import { inspectAs } from '../errors.js';
import { NO_TELEMETRY, type ClientTelemetry, type ClientTelemetryFactory } from '../telemetry.js';

/** How long an API call without a deadline (`apiRequestTimeoutMs: 0`) is allowed to hold budget or keep a retired client open. */
const NO_DEADLINE_ALLOWANCE_MS = 300_000;

/** Checks whether the API accepts tokens again come no closer together than this. */
const MIN_RECHECK_DELAY_MS = 1_000;

/** How long a client evicted from the registry stays usable for a caller that got it just before. */
export const RETIRED_CLIENT_GRACE_MS = 1_000;

/** @internal What a client unit needs besides its configuration. */
export interface GenesysClientContext {
  readonly clock: Clock;
  readonly schedulerRegistry?: SchedulerRegistry;
  /** Creates its telemetry ({@link loadClientTelemetry}); none without it. */
  readonly telemetry?: ClientTelemetryFactory;
  /** The `genesys.client` of its metrics and spans when not its name: registry keys are too many to be labels. */
  readonly telemetryClientName?: string;
}

/**
 * One Genesys Cloud OAuth client, complete: its token service, its signing interceptor and its
 * HTTP client. Nothing is shared between two clients but the code, so one client's token can never
 * sign another client's request. Every registration (`forRoot`, named ones, each registry entry)
 * is one of these, built by the same factory.
 */
export class GenesysClient {
  /** The client's token: cache, refresh, state and events. */
  readonly tokens: GenesysTokenService;
  /** Paces this client's requests to its per-token budgets; absent when `rateLimit` is `false`. */
  private readonly gate?: RateGate;
  /** The interceptor that signs this client's requests; attach it to an `HttpService` of your own with `attachTo`. */
  readonly interceptor: GenesysAuthInterceptor;
  /** An `HttpService` on this client's API origin, signed with this client's token. */
  readonly http: GenesysHttpService;
  /** @internal The clock its parts use. */
  readonly clock: Clock;
  /** @internal How long one token request may take (`tokenRequestTimeoutMs`): what a health probe waits for a token at most. */
  readonly tokenRequestTimeoutMs: number;
  /** Its options, secret included: truly private, so that neither its typings nor its users can reach them. */
  readonly #config: ResolvedGenesysAuthConfig;
  private closed = false;
  private recheckTimer?: NodeJS.Timeout;
  private readonly telemetry: ClientTelemetry;
  private readonly store?: { readonly guard: StoreGuard; readonly keys: ClientStoreKeys };
  private readonly logContext: string;

  /** @internal Built by the module or the registry. */
  constructor(
    /** The registration name (`undefined` for the unnamed one) or the registry key. */
    readonly name: string | undefined,
    config: ResolvedGenesysAuthConfig,
    context: GenesysClientContext,
  ) {
    this.#config = config;
    this.clock = context.clock;
    this.tokenRequestTimeoutMs = config.tokenRequestTimeoutMs;
    inspectAs(this, () => ({ ...this.describe(), tokenStore: this.tokenStore, state: this.tokens.getState() }));
    const logContext = (this.logContext = name === undefined ? 'GenesysAuth' : `GenesysAuth:${name}`);
    const clientId = config.telemetry.includeClientId ? config.clientId : undefined;
    const createTelemetry = context.telemetry ?? (() => NO_TELEMETRY);
    this.telemetry = createTelemetry(config.apiBaseUrl, context.telemetryClientName ?? name ?? 'default', clientId);
    if (config.tokenStore) {
      this.store = { guard: StoreGuard.of(config.tokenStore, context.clock), keys: storeKeysOf(config) };
      this.store.guard.retain();
    }
    this.tokens = new GenesysTokenService(config, new GenesysTokenClient(config, context.clock), context.clock, {
      logContext,
      schedulerRegistry: context.schedulerRegistry,
      telemetry: this.telemetry,
      store: this.store,
    });
    // A request holds budget at most until its deadline (5 minutes without one) plus a token request's.
    const leaseTimeoutMs = (config.apiRequestTimeoutMs || NO_DEADLINE_ALLOWANCE_MS) + config.tokenRequestTimeoutMs;
    this.gate = config.rateLimit ? new RateGate(config.rateLimit, this.tokens, context.clock, leaseTimeoutMs, this.store) : undefined;
    this.interceptor = new GenesysAuthInterceptor(config, this.tokens, context.clock, this.gate, this.telemetry);
    this.http = new GenesysHttpService(config, this.interceptor, context.clock);
    this.tokens.events$.subscribe((event) => {
      if (event.type === 'rejected_by_api') this.scheduleRecheck();
    });
    this.telemetry.observeTokenLifetimes(() =>
      this.tokens.pool.map((slot) => {
        const token = slot.usableToken();
        return token && (token.expiresAt.getTime() - this.clock.now()) / 1000;
      }),
    );
  }

  /** Whether the client shares tokens and budgets through a store, and whether that store is reachable now. */
  get tokenStore(): 'none' | 'shared' | 'unavailable' {
    if (!this.store) return 'none';
    return this.store.guard.degraded ? 'unavailable' : 'shared';
  }

  /** @internal The origin its API requests go to (`apiBaseUrl`), for the SDK bridge. */
  get apiBaseUrl(): string {
    return this.#config.apiBaseUrl;
  }

  /** Secret-free facts about this client, for logs and health output. */
  describe(): { name?: string; loginHost: string; apiHost: string; region: string } {
    return {
      ...(this.name === undefined ? {} : { name: this.name }),
      loginHost: new URL(this.#config.loginBaseUrl).host,
      apiHost: new URL(this.#config.apiBaseUrl).host,
      region: this.#config.region,
    };
  }

  /**
   * Fetches the first token when `fetchTokenOnStartup` is on (one bounded attempt; failures are logged
   * and retried), then logs what the registration is: one line, never a secret.
   */
  async start(): Promise<void> {
    await this.tokens.start();
    // Without a start-up fetch nothing has asked the store yet: one bounded look says whether it answers.
    if (this.store && !this.#config.fetchTokenOnStartup) await this.store.guard.getToken(this.store.keys.token(0));
    new Logger(this.logContext).log(this.startupLine());
  }

  /** Name, hosts, token store (and whether it answered), pool size, rate budget and token status: what a reader of the start-up log needs. */
  private startupLine(): string {
    const { loginBaseUrl, apiBaseUrl, tokenPool, rateLimit } = this.#config;
    const store = this.#config.tokenStore ? `${this.#config.tokenStore.constructor.name} (${this.tokenStore === 'shared' ? 'answering' : 'not answering: each replica on its own tokens meanwhile'})` : 'memory';
    const budget = rateLimit ? `${rateLimit.requestsPerToken} requests per ${rateLimit.windowMs} ms per token` : 'pacing off';
    return `Genesys client ${this.name === undefined ? '(default)' : `"${this.name}"`}: login ${new URL(loginBaseUrl).host}, API ${apiBaseUrl}, token store ${store}, pool of ${tokenPool.size}, ${budget}; token ${this.tokens.getState().status}`;
  }

  /**
   * Stops timers, cancels token requests, drops the token and closes sockets at once. Idempotent.
   * Callers that use the client afterwards get a `shutdown` error saying `because`.
   */
  async close(because = SHUTDOWN_REASON): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.recheckTimer) this.clock.clearTimeout(this.recheckTimer);
    this.telemetry.close();
    this.gate?.close(because);
    this.tokens.close(because);
    const locksReleased = this.tokens.releaseStoreLocks(); // while the store's connections are open: others need not wait for them to lapse
    this.interceptor.close();
    this.http.close();
    await locksReleased;
    await this.store?.guard.release(); // the last client using a store closes its connections
  }

  /**
   * While the API refuses fresh tokens, asks it again (`HEAD /api/v2/tokens/me`) as soon as a 401 may
   * renew the token again, so that the state recovers without traffic: a readiness probe that took
   * the app out of service would otherwise never see it come back. The renewal interval doubles with
   * each refused token, up to 5 minutes, so these checks cost at most one token request per interval.
   */
  private scheduleRecheck(): void {
    if (this.closed) return;
    if (this.recheckTimer) this.clock.clearTimeout(this.recheckTimer);
    // No backoff of its own (`retryDelayMs`): a check before the token service's next renewal would only see the refused
    // token again, and one later than it would keep the state stale; that renewal interval is the backoff.
    const delayMs = Math.max(this.tokens.nextUnauthorizedRenewalAt() - this.clock.now(), MIN_RECHECK_DELAY_MS);
    this.recheckTimer = this.clock.setTimeout(() => {
      this.recheckTimer = undefined;
      if (this.closed || !this.tokens.refusingFreshTokens) return;
      // The outcome shows in the token state; while refusals go on, the next check follows the next interval.
      void this.http.axiosRef
        .head('/api/v2/tokens/me')
        .catch(() => undefined)
        .then(() => {
          if (this.tokens.refusingFreshTokens && !this.recheckTimer) this.scheduleRecheck();
        });
    }, delayMs);
  }

  /**
   * @internal Closes once the client has had no request for {@link RETIRED_CLIENT_GRACE_MS} and none is in
   * flight, waiting at most as long as a request may wait for budget (`rateLimit.maxWaitMs`), one
   * token request and one API call may take after that; used when the registry retires a client
   * (evicted, idle, replaced, removed) that a caller may still hold. A request already waiting is
   * served by the client it was signed for, never moved to a replacement: that one may hold other credentials.
   */
  async closeWhenIdle(because: string): Promise<void> {
    const retiredAt = this.clock.now();
    const { tokenRequestTimeoutMs, apiRequestTimeoutMs, rateLimitBounds } = this.#config;
    const limit = retiredAt + RETIRED_CLIENT_GRACE_MS + rateLimitBounds.maxWaitMs + tokenRequestTimeoutMs + (apiRequestTimeoutMs || NO_DEADLINE_ALLOWANCE_MS);
    for (;;) {
      const quietFor = this.clock.now() - Math.max(retiredAt, this.interceptor.requests.lastActiveAt);
      if (quietFor >= RETIRED_CLIENT_GRACE_MS || this.clock.now() >= limit) break;
      const pauseMs = Math.min(RETIRED_CLIENT_GRACE_MS - quietFor, limit - this.clock.now());
      await this.clock.sleep(pauseMs);
      await this.interceptor.requests.whenIdle(Math.max(0, limit - this.clock.now()));
    }
    await this.close(because);
  }
}

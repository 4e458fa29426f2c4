import type { HttpService } from '@nestjs/axios';
import { Logger } from '@nestjs/common';
import axios, {
  AxiosError,
  CanceledError,
  isAxiosError,
  type AxiosAdapter,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Clock } from '../clock.js';
import { inspectAs } from '../errors.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { GenesysTokenService } from '../token/genesys-token.service.js';
import { NOT_SENT, type GateLease, type RateGate } from '../rate-limit/rate-gate.js';
import { NO_TELEMETRY, type ClientTelemetry } from '../telemetry.js';
import { isStream } from './is-stream.js';
import { axiosOf, type OwnAxios } from './own-axios.js';
import { redacted } from './redact.js';
import { Redirects } from './redirects.js';
import { RateLimitedReplay, type RateLimitedPlan } from './replay-after-429.js';
import { UnauthorizedReplay } from './replay-after-401.js';
import { RequestCounter } from './request-counter.js';
import type { RequestDeadlines } from './request-deadlines.js';
import { stateOf, type RequestState, type StatefulConfig } from './request-state.js';
import { answeringUrl, ApiOrigin, carriesOwnAuthorization, resolvedUrl, signWith, unsign } from './sign.js';
import { TokenWait } from './wait-for-token.js';

/**
 * Signs Genesys Cloud API requests with `Authorization: Bearer <token>`, only when they go to the
 * configured API origin; on a 401 renews the token and retries once; retries a 429 after its
 * `Retry-After` within limits; and redacts the token from every error it lets through.
 *
 * `GenesysHttpService` already uses it. Attach it to an `HttpService` or axios instance of your own
 * with {@link GenesysAuthInterceptor.attachTo}.
 */
export class GenesysAuthInterceptor {
  private readonly attached = new WeakSet<AxiosInstance>();
  private warnedAdapterReplaced = false;
  private readonly api: ApiOrigin;
  private readonly redirects: Redirects;
  private readonly tokenWait: TokenWait;
  private readonly unauthorized: UnauthorizedReplay;
  private readonly rateLimited: RateLimitedReplay;
  /** @internal Requests in flight on every instance this interceptor is attached to: a retired client waits for them. */
  readonly requests: RequestCounter;

  /** @internal Created by the client unit. */
  constructor(
    config: ResolvedGenesysAuthConfig,
    private readonly tokens: GenesysTokenService,
    private readonly clock: Clock,
    /** Paces requests to the per-token budgets; absent when `rateLimit` is `false`. */
    gate?: RateGate,
    private readonly telemetry: ClientTelemetry = NO_TELEMETRY,
  ) {
    this.api = new ApiOrigin(config.apiBaseUrl);
    this.redirects = new Redirects(this.api);
    this.tokenWait = new TokenWait(tokens, clock, gate, config.rateLimitBounds.maxWaitMs, telemetry);
    this.unauthorized = new UnauthorizedReplay(tokens, config.tokenPool.size, telemetry);
    this.rateLimited = new RateLimitedReplay(config, tokens, clock, telemetry);
    this.requests = new RequestCounter(clock);
    inspectAs(this, () => ({ apiOrigin: this.api.origin }));
  }

  /**
   * Installs the interceptor on an `HttpService` or axios instance. Attaching to the same instance
   * again does nothing, so requests are never signed or retried twice.
   * Do not attach it to axios' global default instance (what a plain `HttpModule` uses): every
   * library in the process shares that one.
   */
  attachTo(target: HttpService | AxiosInstance): void {
    this.install(axiosOf(target));
  }

  /**
   * @internal Installs the interceptor on an instance of the library's own, whose deadlines it arms as
   * each attempt is sent and settles as its answer arrives, in its own steps rather than in interceptors
   * of their own: each interceptor costs every request a turn of axios' promise chain.
   */
  attachToOwn(own: OwnAxios): void {
    this.install(own.instance, own.deadlines);
  }

  /**
   * The request step only routes the request through the instance's {@link sender}, which signs and
   * sends it: axios calls an adapter once every other step has run (interceptors registered before
   * this one, serialising the body), so the origin checked is the one the request goes to, and a step
   * that fails before it leaves no budget taken. Synchronous: axios then sends in the caller's tick.
   */
  private install(instance: AxiosInstance, deadlines?: RequestDeadlines): void {
    if (this.attached.has(instance)) return;
    this.attached.add(instance);
    const send = this.sender(instance, deadlines);
    instance.interceptors.request.use((config) => routedThrough(config, send), undefined, { synchronous: true });
    instance.interceptors.response.use(
      (response) => {
        deadlines?.settle(response.config, response.data);
        return this.onResponse(response);
      },
      (error: unknown) => this.onError(instance, deadlines ? deadlines.settleFailed(error) : error),
    );
  }

  /** Whether a URL goes to the configured API origin (same scheme, host and port; no user info). */
  isApiUrl(url: string): boolean {
    return this.api.includes(url);
  }

  /** Ends pending 429 waits so that shutdown is not held up, and starts no new one; their callers get the 429. */
  close(): void {
    this.rateLimited.close();
  }

  /**
   * The adapter that signs, arms and sends `instance`'s requests: at once when a token with budget is
   * at hand (the hot path), else after waiting for one. A request that fails here (no token, throttled,
   * cancelled) is finished here: no answer will end it.
   */
  private sender(instance: AxiosInstance, deadlines?: RequestDeadlines): AxiosAdapter {
    const send: AxiosAdapter = (config) => {
      const state = stateOf(config);
      this.startAttempt(state);
      try {
        const spec = state.adapter || instance.defaults.adapter; // as axios falls back for `null` or `false`
        const resolved = axios.getAdapter(spec, config);
        if (deadlines) this.redirects.sendNatively(config, state, resolved); // on the library's own instance only
        const adapter: AxiosAdapter =
          typeof spec === 'function'
            ? (sent) => this.endingOtherFailures(() => resolved(sent), state)
            : state.sentNatively
              ? (sent) => this.followingFirstHop(resolved(sent), sent, state, send, deadlines)
              : resolved;
        if (!this.needsToken(config, state)) {
          deadlines?.arm(config);
          return adapter(config);
        }
        if ((config.signal as AbortSignal | undefined)?.aborted) throw new CanceledError(undefined, config);
        const now = this.clock.now(); // the one clock read of the hot path: the request's start and its deadline's
        const token = this.tokenWait.now(state, now);
        if (token === undefined) return this.waitThenSend(adapter, config, state, deadlines);
        this.signed(config, state, token);
        deadlines?.arm(config, now);
        return adapter(config);
      } catch (error) {
        this.unsent(state, error);
      }
    };
    return send;
  }

  /**
   * Follows a redirect that answers a request sent on Node's own transport (see {@link Redirects}), with
   * {@link followFirstHop}; any other answer or failure passes as it is.
   */
  private followingFirstHop(
    sent: Promise<AxiosResponse>,
    config: InternalAxiosRequestConfig,
    state: RequestState,
    send: AxiosAdapter,
    deadlines?: RequestDeadlines,
  ): Promise<AxiosResponse> {
    return sent.then(
      (answer) => (this.redirects.isFollowed(state, answer) ? this.followFirstHop(answer, config, state, send, deadlines) : answer),
      (error: unknown) => {
        const answer = isAxiosError(error) ? error.response : undefined;
        if (!answer || !this.redirects.isFollowed(state, answer)) throw error;
        return this.followFirstHop(answer, config, state, send, deadlines);
      },
    );
  }

  /**
   * Ends the attempt a redirect answered (its budget counted, as an answer's) and sends the first hop
   * through `send`, as another attempt of the same request, below axios' response steps so that they see
   * one answer, once. The caller gets the hop's answer with their request's config; follow-redirects takes
   * any hop after it.
   */
  private followFirstHop(
    answer: AxiosResponse,
    config: InternalAxiosRequestConfig,
    state: RequestState,
    send: AxiosAdapter,
    deadlines?: RequestDeadlines,
  ): Promise<AxiosResponse> {
    deadlines?.settle(config);
    this.finishAttempt(state, { status: answer.status });
    const signedByTheLibrary = state.signedWith !== undefined;
    let hop: InternalAxiosRequestConfig;
    try {
      hop = this.redirects.firstHop(config, answer);
    } catch (invalidLocation) {
      throw AxiosError.from(invalidLocation, AxiosError.ERR_BAD_RESPONSE, config, answer.request, answer);
    }
    // Off the API origin the hop goes unsigned: so does the caller's config, which would else hold a token its state no longer claims.
    if (signedByTheLibrary && !this.api.receives(hop)) unsign(config, state);
    handedBack(config, state);
    // A hop of a request the library did not sign is not signed either: no host can lead the library's token into a request.
    // `send` decides whether to sign before it returns.
    state.neverSigned = !signedByTheLibrary;
    let hopSent: Promise<AxiosResponse>;
    try {
      hopSent = send(hop);
    } finally {
      state.neverSigned = false;
    }
    return hopSent.then(
      (response) => {
        response.config = config;
        return response;
      },
      (error: unknown) => {
        // A replay after 401 or 429, or a retry of the caller's, sends the request again, not its hop.
        if (isAxiosError(error)) error.config = config;
        throw error;
      },
    );
  }

  /**
   * axios' own adapters fail with AxiosErrors carrying the request's config, which the response step
   * ends; an adapter of the caller's may fail with anything (thrown or rejected), which that step cannot
   * trace to its request: such a failure ends the attempt (counted, to be safe) and the request here.
   */
  private endingOtherFailures(send: () => Promise<AxiosResponse>, state: RequestState): Promise<AxiosResponse> {
    let sent: Promise<AxiosResponse>;
    try {
      sent = send(); // in this tick, as axios' own adapters send
    } catch (error) {
      sent = Promise.reject(error);
    }
    return sent.catch((error: unknown) => {
      if (!isAxiosError(error) || (error.config as StatefulConfig | undefined)?.genesys !== state) {
        this.finishAttempt(state, { errorType: errorTypeOf(error) });
        this.finishRequest(state);
      }
      throw error;
    });
  }

  /**
   * Counts the request as in flight, once for all its attempts, and ends an attempt no answer of ours
   * ended: a retry step of the caller's that runs before ours replays without it (counted, to be safe).
   */
  private startAttempt(state: RequestState): void {
    if (!state.counted) {
      state.counted = true;
      this.requests.started();
    }
    if (state.lease || state.attempt) this.finishAttempt(state, {});
  }

  /** Waits for a token with budget, then signs, arms and sends. */
  private async waitThenSend(adapter: AxiosAdapter, config: InternalAxiosRequestConfig, state: RequestState, deadlines?: RequestDeadlines): Promise<AxiosResponse> {
    await this.waitForToken(config, state);
    // axios checks cancellation before calling its adapter, that is before the wait: check again before sending.
    if (config.cancelToken?.reason) throw new CanceledError(config.cancelToken.reason.message, config);
    deadlines?.arm(config);
    return adapter(config);
  }

  /** Whether the request is the library's to sign: it goes to the API origin without an Authorization header of the caller's. */
  private needsToken(config: InternalAxiosRequestConfig, state: RequestState): boolean {
    if (state.neverSigned || carriesOwnAuthorization(config, state)) return false;
    if (this.api.receives(config)) return true;
    unsign(config, state);
    return false;
  }

  private signed(config: InternalAxiosRequestConfig, state: RequestState, token: string): void {
    signWith(config, state, token);
    if (this.telemetry !== NO_TELEMETRY) state.attempt = this.telemetry.apiAttempt(config.method ?? 'get', () => resolvedUrl(config), state.attempts);
    state.attempts++;
    if (!state.sentNatively) this.redirects.guard(config);
  }

  /**
   * Waits for a token with budget, then signs. A streamed body is held meanwhile: an error it emits (a
   * file that cannot be read) fails the request, as it would once sent, instead of going unheard and ending the process.
   */
  private async waitForToken(config: InternalAxiosRequestConfig, state: RequestState): Promise<void> {
    const body: unknown = config.data;
    let bodyFailure: unknown;
    const keepFailure = (error: unknown) => (bodyFailure ??= error);
    if (isStream(body)) body.on('error', keepFailure);
    try {
      const token = await this.tokenWait.later(state, config);
      if (bodyFailure !== undefined) throw AxiosError.from(bodyFailure, undefined, config);
      this.signed(config, state, token);
    } catch (error) {
      this.unsent(state, error);
    } finally {
      if (isStream(body)) body.off('error', keepFailure);
    }
  }

  /** A request failed before it was sent (no token, throttled, cancelled): no answer will end it. */
  private unsent(state: RequestState, error: unknown): never {
    this.finishAttempt(state, { errorType: errorTypeOf(error) }, NOT_SENT);
    this.finishRequest(state);
    throw error;
  }

  /** A request is over: its final answer or error reaches the caller. Idempotent. */
  private finishRequest(state: RequestState | undefined): void {
    if (!state?.counted) return;
    state.counted = false;
    this.requests.finished();
  }

  /**
   * Ends the attempt: gives back its budget as `settled` says (see {@link GateLease.release}: by default
   * the answer's status; it then counts from the answer's arrival unless the API could not authenticate
   * it) and ends its span.
   */
  private finishAttempt(state: RequestState, outcome: { status?: number; errorType?: string }, settled: Parameters<GateLease['release']>[0] = outcome.status): void {
    state.lease?.release(settled);
    state.attempt?.end(outcome);
    state.lease = state.attempt = undefined;
  }

  /** An answer from the API origin (not a host a redirect led to) shows the token was accepted. */
  private onResponse(response: AxiosResponse): AxiosResponse {
    const config = response.config as StatefulConfig;
    const state = config.genesys;
    if (!state) return response;
    // Only while fresh tokens are being refused: the origin check costs a URL parse, kept off the hot path. Before
    // the budget goes back, so that callers waiting for it are served rather than refused.
    if (state.signedWith !== undefined && this.tokens.refusingFreshTokens && this.api.includes(answeringUrl(response, config))) {
      this.tokens.recordAccepted();
    }
    this.finishAttempt(state, { status: response.status });
    this.finishRequest(state);
    handedBack(config, state);
    return response;
  }

  private async onError(instance: AxiosInstance, error: unknown): Promise<unknown> {
    try {
      return await this.handleError(instance, error);
    } catch (failure) {
      const config = isAxiosError(error) ? (error.config as StatefulConfig | undefined) : undefined;
      const state = config?.genesys;
      this.finishRequest(state);
      if (config && state) handedBack(config, state);
      throw failure;
    }
  }

  /** Replays a request after 401 or 429 when it should (returning the replay's outcome); otherwise throws the redacted error. */
  private async handleError(instance: AxiosInstance, error: unknown): Promise<unknown> {
    if (!isAxiosError(error) || !error.config) throw error;
    const config = error.config;
    const state = stateOf(config);
    const status = error.response?.status;
    const answeredByApi = status !== undefined && state.signedWith !== undefined && this.api.includes(answeringUrl(error, config));
    if (status === 401 && state.routed && !state.counted) this.warnAdapterReplaced(config);
    // The cool-down starts before the attempt gives its budget back, so that no caller waiting for budget slips in meanwhile.
    const rateLimit: RateLimitedPlan | undefined = status === 429 ? this.rateLimited.plan(error, state, answeredByApi) : undefined;
    // Accepted before the budget goes back, so that callers waiting for it are served rather than refused.
    if (answeredByApi && status !== 401) this.tokens.recordAccepted();
    this.finishAttempt(state, { status, errorType: status === undefined ? (error.code ?? error.name) : undefined }, answeredByApi ? status : undefined);
    const renewToken = answeredByApi && status === 401 && this.unauthorized.wanted(state);
    if (!renewToken && rateLimit?.delayMs === undefined) throw redacted(error, state, rateLimit?.notReplayedBecause);
    if (isStream(config.data)) {
      throw redacted(error, state, `not retried after ${status}: the request body is a stream and cannot be replayed`);
    }

    if (renewToken) {
      const notRenewedBecause = this.unauthorized.renew(state);
      if (notRenewedBecause) throw redacted(error, state, notRenewedBecause);
    } else {
      const signal = config.signal as AbortSignal | undefined;
      const waited = await this.rateLimited.wait(state, rateLimit?.delayMs ?? 0, signal);
      if (waited === 'aborted') throw redacted(new CanceledError(undefined, config), state);
      if (waited === 'closing') throw redacted(error, state, 'not retried after 429: the application is shutting down');
    }
    this.finishRequest(state); // the replay is counted as a request of its own
    return instance.request(config);
  }

  /** A 401 for a request that never went through the library's adapter: say why, once, if it went to the API. */
  private warnAdapterReplaced(config: InternalAxiosRequestConfig): void {
    if (this.warnedAdapterReplaced || !this.api.includes(answeringUrl({}, config))) return;
    this.warnedAdapterReplaced = true;
    new Logger('GenesysAuth').warn(
      "A Genesys API request went out unsigned and got 401: an interceptor that runs after the library's replaced config.adapter. Call attachTo() before adding that interceptor, or set the adapter per request or on the instance's defaults (logged once)",
    );
  }
}

/** A finished request's config, handed to the caller: sent again elsewhere, it goes as they gave it, not through this instance's adapter nor only on Node's own transport. */
function handedBack(config: InternalAxiosRequestConfig, state: RequestState): void {
  if (state.routed) config.adapter = state.adapter;
  if (state.sentNatively) {
    state.sentNatively = false;
    delete config.maxRedirects;
  }
}

/** What a failure is called in telemetry. */
function errorTypeOf(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}

/**
 * Routes a request through `send`, keeping the adapter it had on its first attempt: a replay's config
 * may carry a caller's wrapper around `send`, which sending through would call `send` again.
 */
function routedThrough(config: InternalAxiosRequestConfig, send: AxiosAdapter): InternalAxiosRequestConfig {
  const state = stateOf(config);
  if (!state.routed) {
    state.routed = true;
    state.adapter = config.adapter;
  }
  config.adapter = send;
  return config;
}

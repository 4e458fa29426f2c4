import type { HttpService } from '@nestjs/axios';
import axios, {
  AxiosError,
  CanceledError,
  isAxiosError,
  type AxiosAdapter,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import { retryDelayMs, type Clock } from '../clock.js';
import { onAbort } from '../abort-listener.js';
import { inspectAs, redactAxiosError } from '../errors.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { GenesysTokenService } from '../token/genesys-token.service.js';
import type { GateLease, RateGate } from '../rate-limit/rate-gate.js';
import { isStream } from './is-stream.js';
import { RequestCounter } from './request-counter.js';
import { NO_TELEMETRY, type ApiAttempt, type ClientTelemetry } from '../telemetry.js';
import { axiosOf, type OwnAxios } from './own-axios.js';
import type { RequestDeadlines } from './request-deadlines.js';
import { parseRetryAfter } from './retry-after.js';

/** What the interceptor remembers about one request across its retries (a plain key, since axios copies config on retry). */
interface SigningState {
  /** The token this interceptor put in the Authorization header; absent when it did not sign. */
  signedWith?: string;
  /** Every token this request carried across its retries, to redact them all. */
  usedTokens?: string[];
  /** Replays after a 401 so far: one per token it met refused, at most one more than the pool has tokens. */
  unauthorizedReplays?: number;
  rateLimitRetries?: number;
  /** When the request was first signed: waits for budget and after 429s count from here against `rateLimit.maxWaitMs`. */
  startedAt?: number;
  /** The budget this attempt holds until its answer arrives. */
  lease?: GateLease;
  /** Counted as in flight (set on the first attempt; a replay's copy keeps it, so it is counted once). */
  counted?: boolean;
  /** Attempts signed so far (replays after 401 or 429 included), and the one in flight, for telemetry. */
  attempts?: number;
  attempt?: ApiAttempt;
}

type SignableConfig = InternalAxiosRequestConfig & { genesysAuth?: SigningState };

/**
 * axios 1.19 and later pass a request that fails before it is sent (in a synchronous interceptor or
 * while being serialised) on to the response interceptors, which end its bookkeeping; earlier versions
 * skipped them, or even sent the request after a synchronous interceptor had thrown.
 */
const SYNCHRONOUS_INTERCEPTORS_ARE_SAFE = isVersionAtLeast(axios.VERSION, [1, 19]);

/** The adapter a request had before it was given one that waits for a token or budget, by waiting adapter. */
const adapterBeforeWaiting = new WeakMap<AxiosAdapter, InternalAxiosRequestConfig['adapter']>();

/** Options follow-redirects hands to `beforeRedirect`: enough to see where the redirect goes. */
interface RedirectOptions {
  protocol?: string;
  host?: string;
  hostname?: string;
  port?: string | number;
  headers?: Record<string, unknown>;
}

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
  private readonly apiOrigin: string;
  private readonly pendingWaits = new Set<{ timer: NodeJS.Timeout; wake: (waitedInFull: boolean) => void }>();
  /** After shutdown no wait is started: instances it is attached to may outlive the application. */
  private stopped = false;

  /** Longest a request waits, in all, for budget and after 429s. */
  private readonly maxWaitMs: number;
  /** @internal Requests in flight on every instance this interceptor is attached to: a retired client waits for them. */
  readonly requests: RequestCounter;

  /** @internal Created by the client unit. */
  constructor(
    private readonly config: ResolvedGenesysAuthConfig,
    private readonly tokens: GenesysTokenService,
    private readonly clock: Clock,
    /** Paces requests to the per-token budgets; absent when `rateLimit` is `false`. */
    private readonly gate?: RateGate,
    private readonly telemetry: ClientTelemetry = NO_TELEMETRY,
  ) {
    this.apiOrigin = config.apiBaseUrl;
    this.maxWaitMs = config.rateLimitBounds.maxWaitMs;
    this.requests = new RequestCounter(clock);
    inspectAs(this, () => ({ apiOrigin: this.apiOrigin }));
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
    this.install(own.instance, own.deadlines, SYNCHRONOUS_INTERCEPTORS_ARE_SAFE);
  }

  private install(instance: AxiosInstance, deadlines?: RequestDeadlines, synchronous = false): void {
    if (this.attached.has(instance)) return;
    this.attached.add(instance);
    if (deadlines && synchronous) {
      // axios sends in the caller's tick when every request interceptor is synchronous, saving each request
      // two turns of its promise chain; a request that must wait for a token or budget waits in its adapter.
      const defaultAdapter = instance.defaults.adapter;
      instance.interceptors.request.use((config) => this.signNowOrAsSent(config, deadlines, defaultAdapter), undefined, { synchronous: true });
    } else {
      instance.interceptors.request.use((config) => {
        const signed = this.sign(config);
        if (!deadlines) return signed;
        return signed instanceof Promise ? signed.then(deadlines.arm) : deadlines.arm(signed);
      });
    }
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
    try {
      const parsed = new URL(url);
      return parsed.origin === this.apiOrigin && parsed.username === '' && parsed.password === '';
    } catch {
      return false;
    }
  }

  /** Ends pending 429 waits so that shutdown is not held up, and starts no new one; their callers get the 429. */
  close(): void {
    this.stopped = true;
    for (const wait of this.pendingWaits) {
      this.clock.clearTimeout(wait.timer);
      wait.wake(false);
    }
    this.pendingWaits.clear();
  }

  /**
   * Signs and arms a request at once when a token with budget is at hand (the hot path). Otherwise it
   * signs, arms and sends it from its adapter, which axios calls after the synchronous steps: a wait
   * started only there ends with the request, even when axios fails it before sending (a body that
   * cannot be serialised, say).
   */
  private signNowOrAsSent(config: SignableConfig, deadlines: RequestDeadlines, defaultAdapter: SignableConfig['adapter']): SignableConfig {
    // A replay of a request that waited carries the waiting adapter: it starts from the original.
    if (typeof config.adapter === 'function' && adapterBeforeWaiting.has(config.adapter)) config.adapter = adapterBeforeWaiting.get(config.adapter);
    const signed = this.sign(config, false);
    if (signed) return deadlines.arm(signed);
    const adapter = config.adapter || defaultAdapter; // as axios falls back for `null` or `false`
    const signThenSend: AxiosAdapter = async (sent) => {
      const ready = await this.signHoldingBody(sent);
      // axios checks cancellation before calling its adapter, that is before the wait: check again before sending.
      if (ready.cancelToken?.reason) throw new CanceledError(ready.cancelToken.reason.message, undefined, ready);
      deadlines.arm(ready);
      return axios.getAdapter(adapter, ready)(ready);
    };
    adapterBeforeWaiting.set(signThenSend, adapter);
    config.adapter = signThenSend;
    return config;
  }

  /**
   * Signs a request that waits to be sent. A streamed body is held meanwhile: an error it emits (a file
   * that cannot be read) fails the request, as it would once sent, instead of going unheard and ending the process.
   */
  private async signHoldingBody(config: SignableConfig): Promise<SignableConfig> {
    const body: unknown = config.data;
    if (!isStream(body)) return this.sign(config);
    let bodyFailure: unknown;
    const keepFailure = (error: unknown) => (bodyFailure ??= error);
    body.on('error', keepFailure);
    try {
      const signed = await this.sign(config);
      if (bodyFailure !== undefined) throw AxiosError.from(bodyFailure, undefined, signed);
      return signed;
    } finally {
      body.off('error', keepFailure);
    }
  }

  /**
   * Signs a request for the API origin. Synchronous when a token with budget is at hand (the hot path:
   * every `await` would cost each request a turn of the microtask queue); a promise when it must wait,
   * or `undefined` when it must wait but `mayWait` is `false` (nothing is then waited for).
   */
  private sign(config: SignableConfig): SignableConfig | Promise<SignableConfig>;
  private sign(config: SignableConfig, mayWait: false): SignableConfig | undefined;
  private sign(config: SignableConfig, mayWait = true): SignableConfig | Promise<SignableConfig> | undefined {
    const state = (config.genesysAuth ??= {});
    if (!state.counted) {
      state.counted = true;
      this.requests.started();
    }
    try {
      if (state.signedWith === undefined && config.headers.has('Authorization')) return config; // the caller's own
      if (!this.goesToApi(config)) {
        if (state.signedWith !== undefined) config.headers.delete('Authorization');
        state.signedWith = undefined;
        return config;
      }
      const token = this.abortableTokenFor(state, config, mayWait);
      if (token === undefined) return undefined;
      if (typeof token === 'string') return this.signWith(config, state, token);
      return token.then((ready) => this.signWith(config, state, ready)).catch((error: unknown) => this.unsent(state, error));
    } catch (error) {
      return this.unsent(state, error);
    }
  }

  /** A request failed before it was sent (no token, throttled, cancelled): no answer will end it. */
  private unsent(state: SigningState, error: unknown): never {
    this.finishRequest(state);
    throw error;
  }

  /** A request is over: its final answer or error reaches the caller. Idempotent. */
  private finishRequest(state: SigningState | undefined): void {
    if (!state?.counted) return;
    state.counted = false;
    this.requests.finished();
  }

  private signWith(config: SignableConfig, state: SigningState, token: string): SignableConfig {
    config.headers.set('Authorization', `Bearer ${token}`);
    state.signedWith = token;
    (state.usedTokens ??= []).push(token);
    state.attempt = this.telemetry.apiAttempt(config.method ?? 'get', () => resolvedUrl(config), state.attempts ?? 0);
    state.attempts = (state.attempts ?? 0) + 1;
    config.beforeRedirect = config.beforeRedirect ? this.withAuthorizationDroppedOffOrigin(config.beforeRedirect) : this.dropAuthorizationOffOrigin;
    return config;
  }

  /**
   * A token with budget for this request: at once when one has budget (the hot path), else after
   * waiting for a token or in line for budget (`undefined` instead, unless `mayWait`). The caller's
   * abort signal ends the wait.
   */
  private abortableTokenFor(state: SigningState, config: SignableConfig, mayWait: boolean): string | Promise<string> | undefined {
    const signal = config.signal as AbortSignal | undefined;
    if (signal?.aborted) throw new CanceledError(undefined, undefined, config);
    const token = this.tokenFor(state, mayWait, signal);
    if (token === undefined || typeof token === 'string' || !signal) return token;
    return untilAborted(token, signal).catch((error: unknown) => {
      throw signal.aborted ? new CanceledError(undefined, undefined, config) : error;
    });
  }

  private tokenFor(state: SigningState, mayWait: boolean, signal?: AbortSignal): string | Promise<string> | undefined {
    if (!this.gate) return this.tokens.peekAccessToken() ?? (mayWait ? this.tokens.getAccessToken() : undefined);
    state.startedAt ??= this.clock.now();
    const lease = this.gate.tryTake();
    if (lease) return (state.lease = lease).accessToken;
    if (!mayWait) return undefined;
    const waitFrom = this.clock.now();
    return this.gate.acquire(state.startedAt + this.maxWaitMs, signal).then((acquired) => {
      this.telemetry.rateLimitWait('budget', this.clock.now() - waitFrom);
      if (signal?.aborted) acquired.release(); // the caller gave up as the budget came: nothing will be sent
      else state.lease = acquired;
      return acquired.accessToken;
    });
  }

  /**
   * Ends the finished attempt: gives back its budget (it now counts from its answer's arrival, unless
   * the API could not authenticate it) and ends its span.
   */
  private finishAttempt(state: SigningState | undefined, outcome: { status?: number; errorType?: string }, answeredByApi = true): void {
    if (!state) return;
    state.lease?.release(answeredByApi ? outcome.status : undefined);
    state.attempt?.end(outcome);
    state.lease = state.attempt = undefined;
  }

  /** An answer from the API origin (not a host a redirect led to) shows the token was accepted. */
  private onResponse(response: AxiosResponse): AxiosResponse {
    const config = response.config as SignableConfig;
    this.finishAttempt(config.genesysAuth, { status: response.status });
    this.finishRequest(config.genesysAuth);
    // Only while fresh tokens are being refused: the origin check costs a URL parse, kept off the hot path.
    if (config.genesysAuth?.signedWith !== undefined && this.tokens.refusingFreshTokens && this.isApiUrl(answeringUrl(response, config))) {
      this.tokens.recordAccepted();
    }
    return response;
  }

  /** Whether a request goes to the API origin. A relative URL on the API base URL needs no parsing (the hot path). */
  private goesToApi(config: SignableConfig): boolean {
    const url = config.url ?? '';
    const base = config.baseURL ?? '';
    if (!ABSOLUTE_URL.test(url) && (base === this.apiOrigin || stripTrailingSlashes(base) === this.apiOrigin)) return true;
    return this.isApiUrl(resolvedUrl(config));
  }

  /** follow-redirects keeps headers across redirects to the same host on another port or scheme: drop ours there. */
  private readonly dropAuthorizationOffOrigin = (options: Record<string, unknown>): void => {
    const target = options as RedirectOptions;
    const port = target.port ? `:${target.port}` : '';
    if (!this.isApiUrl(`${target.protocol}//${target.hostname ?? target.host}${port}/`) && target.headers) {
      for (const name of Object.keys(target.headers)) if (name.toLowerCase() === 'authorization') delete target.headers[name];
    }
  };

  private withAuthorizationDroppedOffOrigin(next: NonNullable<SignableConfig['beforeRedirect']>): SignableConfig['beforeRedirect'] {
    return (options, ...details) => {
      this.dropAuthorizationOffOrigin(options);
      next(options, ...details);
    };
  }

  private async onError(instance: AxiosInstance, error: unknown): Promise<unknown> {
    try {
      return await this.handleError(instance, error);
    } catch (failure) {
      this.finishRequest(isAxiosError(error) ? (error.config as SignableConfig | undefined)?.genesysAuth : undefined);
      throw failure;
    }
  }

  /** Replays a request after 401 or 429 when it should (returning the replay's outcome); otherwise throws the redacted error. */
  private async handleError(instance: AxiosInstance, error: unknown): Promise<unknown> {
    if (!isAxiosError(error) || !error.config) throw error;
    const config = error.config as SignableConfig;
    const state = (config.genesysAuth ??= {});
    const status = error.response?.status;
    const answeredByApi = status !== undefined && state.signedWith !== undefined && this.isApiUrl(answeringUrl(error, config));
    // The cool-down starts before the attempt gives its budget back, so that no caller waiting for budget slips in meanwhile.
    const rateLimit = status === 429 ? this.onRateLimited(error, state, answeredByApi) : undefined;
    this.finishAttempt(state, { status, errorType: status === undefined ? (error.code ?? error.name) : undefined }, answeredByApi);
    if (answeredByApi && status !== 401) this.tokens.recordAccepted();
    const unauthorized = answeredByApi && status === 401;
    // Each refused token may be renewed and the request replayed on the next (a pool's other token may be revoked too,
    // or a refresh may have replaced the one it was signed with); past that, the 401 still tells the token service.
    const renewToken = unauthorized && (state.unauthorizedReplays ?? 0) < this.config.tokenPool.size + 1;
    if (unauthorized && !renewToken) this.tokens.invalidate(state.signedWith);
    if (!renewToken && rateLimit?.delayMs === undefined) throw this.redacted(error, state, rateLimit?.notReplayedBecause);
    if (isStream(config.data)) {
      throw this.redacted(error, state, `not retried after ${status}: the request body is a stream and cannot be replayed`);
    }

    if (renewToken) {
      state.unauthorizedReplays = (state.unauthorizedReplays ?? 0) + 1;
      if (!this.tokens.invalidate(state.signedWith)) {
        throw this.redacted(error, state, 'not retried: the API refused a token renewed after a 401 within the renewal interval (see unauthorizedRenewalIntervalMs)');
      }
      this.telemetry.renewal();
    } else {
      state.rateLimitRetries = (state.rateLimitRetries ?? 0) + 1;
      const signal = config.signal as AbortSignal | undefined;
      const waitedInFull = await this.wait(rateLimit?.delayMs ?? 0, signal);
      if (signal?.aborted) throw new CanceledError(undefined, undefined, config);
      if (!waitedInFull) throw this.redacted(error, state, 'not retried after 429: the application is shutting down');
      this.telemetry.rateLimitWait('retry_after', rateLimit?.delayMs ?? 0);
    }
    this.finishRequest(state); // the replay is counted as a request of its own
    return instance.request(config);
  }

  /**
   * A 429: the token that got it cools down (no request uses it until `Retry-After` has passed, at
   * most `rateLimit.maxCoolDownMs`), and the refused request is replayed after that wait if it fits in
   * `rateLimit.maxWaitMs` (counted from its first attempt) and the deprecated `rateLimitRetry` caps.
   * Without a readable `Retry-After`, a bounded exponential backoff stands in for it.
   */
  private onRateLimited(error: AxiosError, state: SigningState, answeredByApi: boolean): { delayMs?: number; notReplayedBecause?: string } {
    const now = this.clock.now();
    const retries = state.rateLimitRetries ?? 0;
    const { maxCoolDownMs } = this.config.rateLimitBounds;
    const retryAfterMs = parseRetryAfter(error.response?.headers['retry-after'], now, maxCoolDownMs);
    const delayMs = retryAfterMs ?? retryDelayMs(retries + 1, 1_000, Math.min(MAX_429_BACKOFF_MS, maxCoolDownMs));
    if (answeredByApi && state.signedWith !== undefined) {
      this.tokens.coolDown(state.signedWith, delayMs);
      this.telemetry.rateLimited();
    }
    const { maxRetries, maxDelayMs } = this.config.rateLimitRetry;
    if (retries >= maxRetries) return { notReplayedBecause: `not retried after 429: ${retries} replays already (rateLimitRetry.maxRetries)` };
    if (delayMs > maxDelayMs || now + delayMs > (state.startedAt ?? now) + this.maxWaitMs) {
      return { notReplayedBecause: `not retried after 429: waiting ${Math.ceil(delayMs)} ms more would exceed rateLimit.maxWaitMs (${this.maxWaitMs} ms)` };
    }
    return { delayMs };
  }

  /** Resolves `true` after `delayMs`, or `false` as soon as the application shuts down (at once if it has) or `signal` aborts. */
  private wait(delayMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.stopped || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wait = {
        timer: this.clock.setTimeout(() => wake(true), delayMs),
        wake: (waitedInFull: boolean) => wake(waitedInFull),
      };
      const stopListening = signal
        ? onAbort(signal, () => {
            this.clock.clearTimeout(wait.timer);
            wake(false);
          })
        : undefined;
      const wake = (waitedInFull: boolean) => {
        this.pendingWaits.delete(wait);
        stopListening?.();
        resolve(waitedInFull);
      };
      this.pendingWaits.add(wait);
    });
  }

  private redacted(error: AxiosError, state: SigningState, note?: string): AxiosError {
    if (note) error.message = `${error.message} (${note})`;
    if (!state.usedTokens?.length) return error;
    return redactAxiosError(error, state.usedTokens);
  }
}

const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/** Longest wait after a 429 that came without `Retry-After`. */
const MAX_429_BACKOFF_MS = 30_000;

function stripTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Where axios will send the request: `url` when absolute, else `baseURL` + `url` (as axios' buildFullPath does). */
function resolvedUrl(config: SignableConfig): string {
  const url = config.url ?? '';
  if (!config.baseURL || (ABSOLUTE_URL.test(url) && config.allowAbsoluteUrls !== false)) return url;
  return url ? `${stripTrailingSlashes(config.baseURL)}/${url.replace(/^\/+/, '')}` : config.baseURL;
}

/** The URL that gave the answer: after redirects, follow-redirects records it on the response; else where the request went. */
function answeringUrl(answer: { request?: unknown }, config: SignableConfig): string {
  const request = answer.request as { res?: { responseUrl?: string } } | undefined;
  return request?.res?.responseUrl ?? resolvedUrl(config);
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

/** Whether a `major.minor.patch` version is at least `[major, minor]`; `false` when it cannot be read. */
export function isVersionAtLeast(version: string | undefined, [major, minor]: [number, number]): boolean {
  const [actualMajor, actualMinor] = (version ?? '').split('.').map(Number);
  if (!Number.isInteger(actualMajor) || !Number.isInteger(actualMinor)) return false;
  return actualMajor! > major || (actualMajor === major && actualMinor! >= minor);
}

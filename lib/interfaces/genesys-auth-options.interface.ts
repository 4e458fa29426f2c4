/** When to refresh the token ahead of its expiry. Every field has a default. */
export interface GenesysTokenRefreshOptions {
  /**
   * Refresh when this fraction of the token's lifetime has passed. Default `0.8`: a 24 h token is
   * renewed after about 19 h, leaving hours to ride out a login outage.
   */
  readonly atLifetimeFraction?: number;
  /**
   * Spread refreshes over this fraction of the lifetime (always earlier, never later), so replicas
   * started together do not refresh together. Default `0.05`.
   */
  readonly jitterFraction?: number;
  /**
   * A token is not handed out in the last part of its life: this many milliseconds, capped at a
   * tenth of the lifetime so that short-lived tokens stay usable. Default `30000`.
   */
  readonly expirySafetyMarginMs?: number;
}

/** How failed token requests are retried. Every field has a default. */
export interface GenesysTokenRetryOptions {
  /** Attempts per refresh before callers waiting for a token get the error. Default `3`. */
  readonly maxAttempts?: number;
  /** First backoff delay in milliseconds; doubles on each failure, with full jitter. Default `500`. */
  readonly initialDelayMs?: number;
  /** Longest backoff delay (and longest `Retry-After` honoured) in milliseconds. Default `30000`. */
  readonly maxDelayMs?: number;
}

/**
 * Retrying Platform API calls answered with `429 Too Many Requests`.
 * @deprecated Since 0.2.0 `rateLimit` paces requests and every 429 is replayed after its cool-down
 * within `rateLimit.maxWaitMs`; these fields still cap the replays and the `Retry-After` honoured.
 */
export interface GenesysRateLimitRetryOptions {
  /** Replays per request after a 429. Default `5`; `0` hands every 429 to the caller. */
  readonly maxRetries?: number;
  /** A 429 whose `Retry-After` asks for longer than this (milliseconds) goes back to the caller at once. Default: `rateLimit.maxWaitMs`. */
  readonly maxDelayMs?: number;
}

/**
 * Pacing Platform API calls to Genesys' per-token rate limit (300 requests a minute per
 * client-credentials token, raisable by a support case). Every field has a default.
 */
export interface GenesysRateLimitOptions {
  /** Requests one token may send in any `windowMs`. Default `300`. */
  readonly requestsPerToken?: number;
  /** The window, in milliseconds. Default `60000`. */
  readonly windowMs?: number;
  /**
   * Longest a caller waits, in all, for budget or for a 429 cool-down before getting a
   * `GenesysAuthError('throttled')` (the request is then never sent). Default `60000`.
   */
  readonly maxWaitMs?: number;
  /** Most requests waiting at once; beyond it a request fails at once with `throttled`. Default `10000`. */
  readonly maxQueued?: number;
  /**
   * Longest a token cools down after a 429, in milliseconds, whatever its `Retry-After` says (a
   * header of `86400` or a date years ahead would otherwise hold the token back until its next
   * refresh, in every replica sharing a store). Also caps cool-downs read from a shared store.
   * Applies with pacing off too. Default `60000`, one window of Genesys' per-token limit.
   */
  readonly maxCoolDownMs?: number;
}

/** Several tokens of the same client, each with its own rate budget. */
export interface GenesysTokenPoolOptions {
  /** Tokens held at most; more are fetched (one at a time) only when traffic needs their budget. Default `1`, at most `50`. */
  readonly size?: number;
}

import type { GenesysTokenStore } from '../store/genesys-token-store.js';

/** Options of {@link GenesysAuthModule}. Only `clientId` and `clientSecret` are required. */
export interface GenesysAuthModuleOptions {
  /** OAuth client id of a Genesys Cloud client with the Client Credentials grant. Surrounding blanks are trimmed. */
  readonly clientId: string;
  /** OAuth client secret. Surrounding blanks are trimmed (a secret file's trailing newline). Never logged, never put in errors or health output. */
  readonly clientSecret: string;
  /**
   * Genesys Cloud region: a domain (`mypurecloud.ie`), an AWS-style name (`eu-west-1`) or a short
   * code (`euw2`). Default `mypurecloud.com` (us-east-1).
   */
  readonly region?: string;
  /** Overrides the login origin (`https://login.<domain>`), e.g. for a proxy or the emulator. `http` only for loopback hosts. */
  readonly loginBaseUrl?: string;
  /** Overrides the API origin (`https://api.<domain>`). Tokens are only ever sent to this origin. `http` only for loopback hosts. */
  readonly apiBaseUrl?: string;
  /** OAuth scopes to ask for (sent as one space-separated `scope`). Default: none, i.e. all of the client's roles. */
  readonly scopes?: readonly string[];
  /**
   * How credentials reach the token endpoint: `basic` (default) sends `Authorization: Basic …` as
   * Genesys' SDKs do; `body` sends `client_id` and `client_secret` in the form.
   */
  readonly clientAuthentication?: 'basic' | 'body';
  /**
   * Fetch the first token while the application starts, so the first API call does not wait and
   * health reports `up` at once. A failure is logged and, unless the credentials were refused,
   * retried in the background; it never stops the application. Default `true`.
   */
  readonly fetchTokenOnStartup?: boolean;
  /** Deadline of one token request in milliseconds, for the whole exchange (headers and body). Default `10000`. */
  readonly tokenRequestTimeoutMs?: number;
  /**
   * Deadline of Platform API calls made through `GenesysHttpService`, in milliseconds, for the whole
   * exchange (headers and body); a per-request `timeout` overrides it. `0` turns it off. Default `30000`.
   */
  readonly apiRequestTimeoutMs?: number;
  /**
   * A 401 from the API renews the token at most once per this many milliseconds (or per tenth of the
   * token's lifetime, if that is shorter). A 401 on a token obtained more recently than that goes back
   * to the caller instead of fetching again, and is recorded as the API refusing fresh tokens (state
   * `rejected_by_api`). Default `5000`.
   */
  readonly unauthorizedRenewalIntervalMs?: number;
  /** When to refresh ahead of expiry. */
  readonly refresh?: GenesysTokenRefreshOptions;
  /** How failed token requests are retried. */
  readonly retry?: GenesysTokenRetryOptions;
  /**
   * Pace requests to the per-token limit (a sliding count per token, FIFO waiting, cool-downs after
   * 429). `false` turns pacing off; 429s are still replayed after `Retry-After`.
   */
  readonly rateLimit?: GenesysRateLimitOptions | false;
  /** Hold several tokens of this client, each with its own 300-a-minute budget. */
  readonly tokenPool?: GenesysTokenPoolOptions;
  /**
   * Where tokens and rate budgets live. Default: this process's memory. A shared store, such as
   * `RedisTokenStore` from `nestjs-genesys-auth/redis`, makes the replicas of an app share tokens (one
   * refresh per cluster) and budgets (the cluster as a whole keeps to the per-token limit). The library
   * closes the store's own connections once the last client using it closes.
   */
  readonly tokenStore?: GenesysTokenStore;
  /**
   * OpenTelemetry metrics and traces (when the app has `@opentelemetry/api` and registers an SDK).
   * `includeClientId` adds the OAuth client id as `genesys.client.id` to every metric and span; off by
   * default (`genesys.client` identifies the client: the registration name, `default` for the unnamed one, and `registry` for registry clients unless the registry's `telemetryClientName` maps their keys to a bounded set of labels).
   */
  readonly telemetry?: { readonly includeClientId?: boolean };
  /** @deprecated Use `rateLimit`; see {@link GenesysRateLimitRetryOptions}. */
  readonly rateLimitRetry?: GenesysRateLimitRetryOptions;
}

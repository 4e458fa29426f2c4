import { GenesysAuthError } from './errors.js';
import type { GenesysTokenStore } from './store/genesys-token-store.js';
import type {
  GenesysAuthModuleOptions,
  GenesysRateLimitOptions,
  GenesysTokenPoolOptions,
} from './interfaces/genesys-auth-options.interface.js';
import { DEFAULT_GENESYS_REGION, describeGenesysRegions, findGenesysRegion } from './regions.js';

/** Options after validation and defaults: what the rest of the library reads. */
export interface ResolvedGenesysAuthConfig {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Region domain, e.g. `mypurecloud.com`. */
  readonly region: string;
  /** Origin of the token endpoint, without a trailing slash. */
  readonly loginBaseUrl: string;
  /** Origin tokens are sent to, without a trailing slash. */
  readonly apiBaseUrl: string;
  readonly scopes: readonly string[];
  readonly clientAuthentication: 'basic' | 'body';
  readonly fetchTokenOnStartup: boolean;
  readonly tokenRequestTimeoutMs: number;
  readonly apiRequestTimeoutMs: number;
  readonly unauthorizedRenewalIntervalMs: number;
  readonly refresh: Required<NonNullable<GenesysAuthModuleOptions['refresh']>>;
  readonly retry: Required<NonNullable<GenesysAuthModuleOptions['retry']>>;
  readonly rateLimitRetry: Required<NonNullable<GenesysAuthModuleOptions['rateLimitRetry']>>;
  /** Pacing, or `false` when it is off. */
  readonly rateLimit: Required<GenesysRateLimitOptions> | false;
  /** Bounds that hold with pacing on or off: `rateLimit`'s, or its defaults when it is `false`. */
  readonly rateLimitBounds: { readonly maxWaitMs: number; readonly maxCoolDownMs: number };
  readonly tokenPool: Required<GenesysTokenPoolOptions>;
  readonly telemetry: { readonly includeClientId: boolean };
  readonly tokenStore?: GenesysTokenStore;
}

/** Defaults of `rateLimit`: Genesys' per-token limit. */
export const DEFAULT_RATE_LIMIT: Required<GenesysRateLimitOptions> = Object.freeze({
  requestsPerToken: 300,
  windowMs: 60_000,
  maxWaitMs: 60_000,
  maxQueued: 10_000,
  maxCoolDownMs: 60_000,
});

const LOOPBACK_HOSTS = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

function invalid(field: string, problem: string): never {
  throw new GenesysAuthError('invalid_options', `GenesysAuthModule: option "${field}" ${problem}`);
}

/** A required string, trimmed: credentials pasted or read from a file often carry a blank or newline. */
function requiredTrimmedString(options: Record<string, unknown>, field: string): string {
  const value = options[field];
  if (typeof value !== 'string' || value.trim() === '') invalid(field, 'is required and must be a non-empty string');
  return value.trim();
}

function numberInRange(value: unknown, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    invalid(field, `must be a number from ${min} to ${max}`);
  }
  return value;
}

function integerInRange(value: unknown, field: string, fallback: number, min: number, max: number): number {
  const number = numberInRange(value, field, fallback, min, max);
  if (!Number.isInteger(number)) invalid(field, 'must be a whole number');
  return number;
}

function booleanOption(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalid(field, 'must be true or false');
  return value;
}

function objectOption(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

/** Parses a base URL override into its origin; `https` is required except on loopback hosts. */
function originOption(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') invalid(field, 'must be a URL string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    invalid(field, `is not a valid URL: "${value}"`);
  }
  if (url.username || url.password) invalid(field, 'must not contain a user name or password');
  if (url.pathname !== '/' || url.search || url.hash) invalid(field, `must be an origin without a path, e.g. "${url.origin}"`);
  const loopback = LOOPBACK_HOSTS.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    invalid(field, 'must use https (plain http is allowed only for localhost, 127.0.0.0/8 and [::1])');
  }
  return url.origin;
}

function regionOption(value: unknown): string {
  if (value === undefined) return DEFAULT_GENESYS_REGION;
  const region = typeof value === 'string' ? findGenesysRegion(value) : undefined;
  if (!region) invalid('region', `is not a known Genesys Cloud region: "${String(value)}". Valid values: ${describeGenesysRegions()}`);
  return region.domain;
}

function scopesOption(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((scope) => typeof scope !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope))) {
    invalid('scopes', 'must be an array of scope names without spaces or quotes');
  }
  return Object.freeze([...value]);
}

const STORE_METHODS = ['getToken', 'setToken', 'acquireLock', 'releaseLock', 'claimBudget', 'settleBudget', 'coolDown'] as const;

function tokenStoreOption(value: unknown): GenesysTokenStore {
  const store = value as Record<string, unknown> | null;
  if (typeof store !== 'object' || store === null || STORE_METHODS.some((method) => typeof store[method] !== 'function')) {
    invalid('tokenStore', `must be a GenesysTokenStore (an object with ${STORE_METHODS.join(', ')})`);
  }
  return value as GenesysTokenStore;
}

function rateLimitOption(rateLimit: Record<string, unknown>): Required<GenesysRateLimitOptions> {
  return Object.freeze({
    requestsPerToken: integerInRange(rateLimit.requestsPerToken, 'rateLimit.requestsPerToken', DEFAULT_RATE_LIMIT.requestsPerToken, 1, 1_000_000_000),
    windowMs: integerInRange(rateLimit.windowMs, 'rateLimit.windowMs', DEFAULT_RATE_LIMIT.windowMs, 1, 3_600_000),
    maxWaitMs: integerInRange(rateLimit.maxWaitMs, 'rateLimit.maxWaitMs', DEFAULT_RATE_LIMIT.maxWaitMs, 0, 3_600_000),
    maxQueued: integerInRange(rateLimit.maxQueued, 'rateLimit.maxQueued', DEFAULT_RATE_LIMIT.maxQueued, 0, 1_000_000),
    maxCoolDownMs: integerInRange(rateLimit.maxCoolDownMs, 'rateLimit.maxCoolDownMs', DEFAULT_RATE_LIMIT.maxCoolDownMs, 1, 3_600_000),
  });
}

/**
 * Validates module options and fills in defaults. Throws a {@link GenesysAuthError} with code
 * `invalid_options` naming the first bad field; the message never contains the client secret.
 */
export function resolveGenesysAuthOptions(options: GenesysAuthModuleOptions): ResolvedGenesysAuthConfig {
  const raw = objectOption(options ?? undefined, 'options');
  const clientId = requiredTrimmedString(raw, 'clientId');
  const clientSecret = requiredTrimmedString(raw, 'clientSecret');
  const region = regionOption(raw.region);
  const clientAuthentication = raw.clientAuthentication ?? 'basic';
  if (clientAuthentication !== 'basic' && clientAuthentication !== 'body') invalid('clientAuthentication', 'must be "basic" or "body"');
  const refresh = objectOption(raw.refresh, 'refresh');
  const retry = objectOption(raw.retry, 'retry');
  const rateLimitRetry = objectOption(raw.rateLimitRetry, 'rateLimitRetry');
  const rateLimit = raw.rateLimit === false ? false : rateLimitOption(objectOption(raw.rateLimit, 'rateLimit'));
  const { maxWaitMs, maxCoolDownMs } = rateLimit === false ? DEFAULT_RATE_LIMIT : rateLimit;
  const tokenPool = objectOption(raw.tokenPool, 'tokenPool');
  const telemetry = objectOption(raw.telemetry, 'telemetry');
  const initialDelayMs = integerInRange(retry.initialDelayMs, 'retry.initialDelayMs', 500, 1, 3_600_000);

  return Object.freeze({
    clientId,
    clientSecret,
    region,
    loginBaseUrl: originOption(raw.loginBaseUrl, 'loginBaseUrl') ?? `https://login.${region}`,
    apiBaseUrl: originOption(raw.apiBaseUrl, 'apiBaseUrl') ?? `https://api.${region}`,
    scopes: scopesOption(raw.scopes),
    clientAuthentication,
    fetchTokenOnStartup: booleanOption(raw.fetchTokenOnStartup, 'fetchTokenOnStartup', true),
    tokenRequestTimeoutMs: integerInRange(raw.tokenRequestTimeoutMs, 'tokenRequestTimeoutMs', 10_000, 1, 600_000),
    apiRequestTimeoutMs: integerInRange(raw.apiRequestTimeoutMs, 'apiRequestTimeoutMs', 30_000, 0, 3_600_000),
    unauthorizedRenewalIntervalMs: integerInRange(raw.unauthorizedRenewalIntervalMs, 'unauthorizedRenewalIntervalMs', 5_000, 0, 3_600_000),
    refresh: Object.freeze({
      atLifetimeFraction: numberInRange(refresh.atLifetimeFraction, 'refresh.atLifetimeFraction', 0.8, 0.1, 0.95),
      jitterFraction: numberInRange(refresh.jitterFraction, 'refresh.jitterFraction', 0.05, 0, 0.5),
      expirySafetyMarginMs: integerInRange(refresh.expirySafetyMarginMs, 'refresh.expirySafetyMarginMs', 30_000, 0, 3_600_000),
    }),
    retry: Object.freeze({
      maxAttempts: integerInRange(retry.maxAttempts, 'retry.maxAttempts', 3, 1, 20),
      initialDelayMs,
      maxDelayMs: integerInRange(retry.maxDelayMs, 'retry.maxDelayMs', Math.max(30_000, initialDelayMs), initialDelayMs, 3_600_000),
    }),
    rateLimitRetry: Object.freeze({
      maxRetries: integerInRange(rateLimitRetry.maxRetries, 'rateLimitRetry.maxRetries', 5, 0, 100),
      maxDelayMs: integerInRange(rateLimitRetry.maxDelayMs, 'rateLimitRetry.maxDelayMs', maxWaitMs, 0, 3_600_000),
    }),
    rateLimit,
    rateLimitBounds: Object.freeze({ maxWaitMs, maxCoolDownMs }),
    tokenPool: Object.freeze({ size: integerInRange(tokenPool.size, 'tokenPool.size', 1, 1, 50) }),
    telemetry: Object.freeze({ includeClientId: booleanOption(telemetry.includeClientId, 'telemetry.includeClientId', false) }),
    ...(raw.tokenStore === undefined ? {} : { tokenStore: tokenStoreOption(raw.tokenStore) }),
  });
}

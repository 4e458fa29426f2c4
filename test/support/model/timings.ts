import type { GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { RETIRED_CLIENT_GRACE_MS } from '../../../lib/client/genesys-client.js';

/**
 * Short timings, so that a run of a few seconds sees tokens expire and refresh, windows fill and
 * empty, cool-downs end and renewals repeat. The emulator's per-token limit equals the library's.
 */
export const TOKEN_LIFETIME_SECONDS = 2;
export const RENEWAL_INTERVAL_MS = 200;
export const TOKEN_TIMEOUT_MS = 300;
export const API_TIMEOUT_MS = 1_000;
export const RETRY = { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 200 } as const;
export const BUDGET = { requestsPerToken: 4, windowMs: 1_000 } as const;
export const RATE_LIMIT = { ...BUDGET, maxWaitMs: 2_500, maxCoolDownMs: 500 } as const;
/** `rateLimitRetry.maxRetries`' default: replays of one request after 429s. */
export const MAX_429_REPLAYS = 5;
export const RESOLVE_TIMEOUT_MS = 300;
/** How long the resolver of `resolved-slow` takes: within {@link RESOLVE_TIMEOUT_MS}. */
export const SLOW_RESOLVE_MS = 100;

/** The emulator's round trip: requests overlap as they do over a network (a herd shows as requests in flight together). */
export const LATENCY_MS = 5;

/** Every registration's options besides credentials and endpoints. */
export const LIBRARY_OPTIONS = {
  unauthorizedRenewalIntervalMs: RENEWAL_INTERVAL_MS,
  tokenRequestTimeoutMs: TOKEN_TIMEOUT_MS,
  apiRequestTimeoutMs: API_TIMEOUT_MS,
  retry: RETRY,
  rateLimit: RATE_LIMIT,
} satisfies Partial<GenesysAuthModuleOptions>;

/**
 * Scheduling noise tolerated in every timing judgement: two event loops (emulator and library share
 * one process) on a loaded 2-core machine, and the store's 100 ms polling.
 */
export const SLACK_MS = 300;

/** Longest one token refresh may take: every attempt to its deadline, with the longest backoff between. */
export const TOKEN_DEADLINE_MS = RETRY.maxAttempts * TOKEN_TIMEOUT_MS + (RETRY.maxAttempts - 1) * RETRY.maxDelayMs;

/**
 * Longest an API call may take: a token (twice with a shared store: waiting for the replica that
 * holds the refresh lock, then fetching itself), a renewal after a 401 (as long again), all waiting
 * for budget and cool-downs (`maxWaitMs`), and two attempts to their deadline (the first and the replay).
 */
export const CALL_BOUND_MS = 2 * 2 * TOKEN_DEADLINE_MS + RATE_LIMIT.maxWaitMs + 2 * API_TIMEOUT_MS + SLACK_MS;

/**
 * Longest a store that stops answering may hold one caller, on top of its bound: the store call that
 * finds it gone, and one probe of whether it is back (once a second, one caller's store call is that
 * probe), each cut at the library's bound on a store call (1 s).
 */
export const STORE_HOLD_MS = 2 * 1_000;

/** Longest `registry.get(key, options)` may take (it loads OpenTelemetry once: a module import under jest). */
export const REGISTRY_BOUND_MS = 1_500;

/** Longest `registry.get(key)` may take when it has to ask `resolveOptions`. */
export const RESOLVE_BOUND_MS = RESOLVE_TIMEOUT_MS + REGISTRY_BOUND_MS;

/**
 * Longest `registry.remove(key)` may take: the retired client's grace period for callers that got it
 * just before, then its requests (each waiting at most `maxWaitMs`, a token request and an attempt).
 */
export const REMOVE_BOUND_MS = RETIRED_CLIENT_GRACE_MS + RATE_LIMIT.maxWaitMs + TOKEN_TIMEOUT_MS + API_TIMEOUT_MS + SLACK_MS;

/** Longest a call still pending when the app closes may take to settle. */
export const CLOSE_SETTLE_MS = 2_000;

/** How long a step waits for the calls it started before the invariants are checked (the rest go on in the background). */
export const STEP_WAIT_MS = 250;

/** How long the end of a run lets pending calls finish before it closes the app (those still pending are cut short by it). */
export const TEARDOWN_SETTLE_MS = 1_500;

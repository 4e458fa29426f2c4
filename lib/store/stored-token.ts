import { accessTokenProblem, MAX_TOKEN_LIFETIME_MS } from '../token/token-client.js';

/** How far another replica's clock may run ahead of this one's: a token it stored may look obtained that much later than now. */
export const MAX_STORE_CLOCK_SKEW_MS = 60_000;

/**
 * What makes `value`, read from a store, unusable as a stored token; `undefined` when nothing does.
 * Whoever can write to a shared store can put anything there, so it gets the checks of a token-endpoint
 * answer, and times that make sense at `now`. The text never contains the value.
 */
export function storedTokenProblem(value: unknown, now: number): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const { accessToken, tokenType, obtainedAt, expiresAt, scope } = value as Record<string, unknown>;
  const tokenProblem = accessTokenProblem(accessToken, tokenType);
  if (tokenProblem) return tokenProblem;
  if (typeof obtainedAt !== 'number' || !Number.isFinite(obtainedAt) || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    return 'obtainedAt or expiresAt is not a finite number';
  }
  if (obtainedAt > now + MAX_STORE_CLOCK_SKEW_MS) return 'obtainedAt is in the future';
  if (expiresAt <= obtainedAt) return 'expiresAt is not after obtainedAt';
  if (expiresAt > now + MAX_TOKEN_LIFETIME_MS + MAX_STORE_CLOCK_SKEW_MS) return `expiresAt is more than ${MAX_TOKEN_LIFETIME_MS / 3_600_000} h away`;
  if (scope !== undefined && typeof scope !== 'string') return 'scope is not a string';
  return undefined;
}

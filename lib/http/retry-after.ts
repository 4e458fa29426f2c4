/** Longest `Retry-After` read from any answer unless the caller sets its own ceiling: the longest backoff the options allow. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * A `Retry-After` header (delay-seconds or an HTTP date) in milliseconds, at most `maxMs`: a header
 * is untrusted input, and one answer must not hold a token back for hours. `undefined` when absent,
 * negative or unreadable, so that the caller's own backoff applies.
 */
export function parseRetryAfter(header: unknown, now: number, maxMs = MAX_RETRY_AFTER_MS): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (!Number.isNaN(seconds)) return seconds >= 0 ? Math.min(seconds * 1000, maxMs) : undefined;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.min(Math.max(0, date - now), maxMs);
}

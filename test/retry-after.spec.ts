import { describe, expect, it } from '@jest/globals';
import { parseRetryAfter } from '../lib/retry-after.js';

describe('Retry-After', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');

  it.each([
    ['42', 42_000],
    ['0', 0],
    ['0.5', 500],
    ['Wed, 25 Nov 2026 12:00:30 GMT', 30_000],
    ['Wed, 25 Nov 2026 11:00:00 GMT', 0],
  ])('reads %j as %i ms', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });

  it.each([undefined, '', '  ', '-3', 'soon', 42])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
});

import { describe, expect, it } from '@jest/globals';
import { parseRetryAfter } from '../lib/http/retry-after.js';

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

  it.each([undefined, '', '  ', '-3', '-Infinity', 'soon', 42])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });

  it.each([
    ['86400', 60_000],
    ['1e9', 60_000],
    ['Infinity', 60_000],
    ['Tue, 25 Nov 2036 12:00:00 GMT', 60_000],
  ])('caps %j at the ceiling it is given (%i ms)', (header, expected) => {
    expect(parseRetryAfter(header, now, 60_000)).toBe(expected);
  });

  it('caps a far-off value at an hour when no ceiling is given', () => {
    expect(parseRetryAfter('86400', now)).toBe(3_600_000);
  });
});

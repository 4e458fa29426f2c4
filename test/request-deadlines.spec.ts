import { describe, expect, it } from '@jest/globals';
import { AxiosHeaders, type InternalAxiosRequestConfig } from 'axios';
import type { Clock } from '../lib/clock.js';
import { RequestDeadlines } from '../lib/http/request-deadlines.js';

/** A clock standing still at `nowMs` that records the delay of every timer started on it. */
function stoppedClock(nowMs: number) {
  const delays: number[] = [];
  const clock: Clock = {
    now: () => nowMs,
    setTimeout: (_callback, delayMs) => {
      delays.push(delayMs);
      return setTimeout(() => undefined, 0).unref();
    },
    clearTimeout: () => undefined,
    sleep: () => Promise.resolve(),
  };
  return { clock, delays };
}

const configWithTimeout = (timeout: number): InternalAxiosRequestConfig => ({ headers: new AxiosHeaders(), timeout });

describe('RequestDeadlines', () => {
  it('keeps a short deadline within a tenth of its timeout, even at the start of a grain', () => {
    const { clock, delays } = stoppedClock(1_000_000);
    new RequestDeadlines(clock).arm(configWithTimeout(150));
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(150);
    expect(delays[0]).toBeLessThanOrEqual(165);
  });

  it('keeps a long deadline within 100 ms of its timeout', () => {
    const { clock, delays } = stoppedClock(1_000_000);
    new RequestDeadlines(clock).arm(configWithTimeout(30_000));
    expect(delays[0]).toBeGreaterThanOrEqual(30_000);
    expect(delays[0]).toBeLessThanOrEqual(30_100);
  });

  it('gives requests started in one grain with one timeout one timer', () => {
    const { clock, delays } = stoppedClock(1_000_000);
    const deadlines = new RequestDeadlines(clock);
    const first = deadlines.arm(configWithTimeout(30_000));
    const second = deadlines.arm(configWithTimeout(30_000));
    expect(delays).toHaveLength(1);
    expect(second.signal).toBe(first.signal);
  });
});

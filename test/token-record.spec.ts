import { beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { Clock } from '../lib/clock.js';
import { systemClock } from '../lib/clock.js';
import { SlidingWindowBudget } from '../lib/rate-limit/sliding-window-budget.js';
import { MemoryTokenStore } from '../lib/store/memory-token-store.js';
import { StoreGuard } from '../lib/store/store-guard.js';
import { TokenRecord, type BudgetRule } from '../lib/token/token-record.js';

const RULE: BudgetRule = { requestsPerToken: 2, windowMs: 1_000, leaseTimeoutMs: 5_000 };

describe('TokenRecord', () => {
  it('starts a new token afresh (budget, cool-down, trial) but carries the time of the last 401 renewal', () => {
    const first = new TokenRecord('a');
    first.budgetUnder(RULE).take(0);
    first.budgetUnder(RULE).take(0);
    first.coolDown(10_000);
    first.answered(false, 429);
    first.renewedAfterUnauthorized(500);

    const next = new TokenRecord('b', first);

    expect(first.open(1_000)).toBe(false);
    expect(next.open(1_000)).toBe(true);
    expect(next.coolDownEndsAt).toBe(0);
    expect(next.budgetUnder(RULE).remaining(1_000)).toBe(2);
    expect(next.startProbe(1_000, RULE.leaseTimeoutMs)).toBe(false);
    expect(next.lastUnauthorizedRenewalAt).toBe(500);
    expect(new TokenRecord('c').lastUnauthorizedRenewalAt).toBe(Number.NEGATIVE_INFINITY);
  });

  it('after a 429, lets one probe out once the cool-down ends and holds the others until its answer', () => {
    const record = new TokenRecord('a');
    record.coolDown(2_000);
    record.answered(false, 429);

    expect(record.open(1_999)).toBe(false);
    expect(record.nextFreeAt(1_000, RULE)).toBe(2_000);
    expect(record.startProbe(2_000, RULE.leaseTimeoutMs)).toBe(true);
    expect(record.open(2_001)).toBe(false);
    expect(record.nextFreeAt(2_001, RULE)).toBe(7_000); // a lost probe holds the others 5 s at most

    record.answered(true, 200);
    expect(record.open(2_002)).toBe(true);
    expect(record.startProbe(2_002, RULE.leaseTimeoutMs)).toBe(false);
  });
});

describe('SlidingWindowBudget', () => {
  it('counts a lease never settled as answered when its lease ran out, and says when budget frees at the latest', () => {
    const budget = new SlidingWindowBudget(1, 1_000, 5_000);
    budget.take(0);

    expect(budget.nextFreeAt(100)).toBe(Number.POSITIVE_INFINITY); // an answer may come any moment
    expect(budget.latestFreeAt(100)).toBe(6_000);
    expect(budget.remaining(5_500)).toBe(0); // lost at 5 000, counted until 6 000
    expect(budget.remaining(6_000)).toBe(1);
  });

  it('keeps answer times in order when a lost lease is counted after later answers', () => {
    const budget = new SlidingWindowBudget(2, 1_000, 5_000);
    const lost = budget.take(0);
    budget.settle(budget.take(5_200), 5_300);

    expect(budget.remaining(5_400)).toBe(0);
    expect(lost.settled).toBe(true);
    expect(budget.nextFreeAt(5_400)).toBe(6_000); // the lost lease's window ends first
    expect(budget.remaining(6_000)).toBe(1);
    expect(budget.remaining(6_300)).toBe(2);
  });
});

describe('MemoryTokenStore budget', () => {
  it('counts claims by the same window rule: an unsettled claim lapses a window after its lease', async () => {
    let now = 0;
    const store = new MemoryTokenStore(() => now);
    const claim = await store.claimBudget('budget:lapse', 1, 1_000, 5_000);
    expect(claim.granted).toBe(true);

    now = 100;
    expect(await store.claimBudget('budget:lapse', 1, 1_000, 5_000)).toMatchObject({ granted: false, retryInMs: 5_900 });
    now = 6_000;
    expect(await store.claimBudget('budget:lapse', 1, 1_000, 5_000)).toMatchObject({ granted: true, remaining: 0 });
  });

  it('counts a settled claim for a window after its answer', async () => {
    let now = 0;
    const store = new MemoryTokenStore(() => now);
    const claim = await store.claimBudget('budget:settled', 1, 1_000, 5_000);
    if (!claim.granted) throw new Error('the first claim of an empty budget should be granted');
    now = 300;
    await store.settleBudget('budget:settled', claim.claimId);

    expect(await store.claimBudget('budget:settled', 1, 1_000, 5_000)).toMatchObject({ granted: false, retryInMs: 1_000 });
    now = 1_300;
    expect(await store.claimBudget('budget:settled', 1, 1_000, 5_000)).toMatchObject({ granted: true });
  });
});

describe('StoreGuard', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('checks stored tokens against its clock', async () => {
    const realNow = Date.now();
    const token = { accessToken: 'a'.repeat(40), tokenType: 'bearer', obtainedAt: realNow, expiresAt: realNow + 3_600_000 };
    const [early, onTime] = [new MemoryTokenStore(), new MemoryTokenStore()];
    await Promise.all([early.setToken('token:x', token), onTime.setToken('token:x', token)]);
    const hourAgo: Clock = { ...systemClock, now: () => realNow - 3_600_000 };

    expect(await StoreGuard.of(early, hourAgo).getToken('token:x')).toBeUndefined(); // obtained "in the future" by that clock
    expect(await StoreGuard.of(onTime).getToken('token:x')).toEqual(token);
  });
});

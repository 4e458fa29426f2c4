import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { GenesysHttpService, MemoryTokenStore, type BudgetClaim, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { LoopStalls } from './support/loop-stalls.js';

const ORG_ME = '/api/v2/organizations/me';

/** Bounds on a wait are checked on the time the process could run: a stall of the whole process holds up every timer alike. */
const stalls = new LoopStalls();
afterAll(() => stalls.stop());

/**
 * A shared store whose budget claims answer as `answer` says (after `delayMs`), tokens kept in memory:
 * the faults a Redis an attacker can write to, or a slow one, brings to the shared budget.
 */
class ScriptedBudgetStore extends MemoryTokenStore {
  claims = 0;
  constructor(private readonly answer: (claimNumber: number) => Promise<BudgetClaim> | BudgetClaim) {
    super();
  }
  override async claimBudget(): Promise<BudgetClaim> {
    return this.answer(++this.claims);
  }
  /** Each settlement: the claim's id, and whether the request counted. */
  readonly settled: [string, boolean | undefined][] = [];
  override async settleBudget(_key: string, claimId: string, counted?: boolean): Promise<void> {
    this.settled.push([claimId, counted]);
  }
}

let running: EmulatedApp | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

const start = async (store: MemoryTokenStore, options: Partial<GenesysAuthModuleOptions> = {}) => {
  running = await startEmulatedApp({ tokenStore: store, ...options });
  return running.app.get(GenesysHttpService);
};

describe('a shared budget store that misbehaves', () => {
  it('answering claims with something that is not one counts as down: callers are served, and the store is asked once a second after their first claims', async () => {
    const store = new ScriptedBudgetStore(() => ({ granted: false, retryInMs: -9.2e18 }));
    const genesys = await start(store, { rateLimit: { requestsPerToken: 100, windowMs: 60_000, maxWaitMs: 5_000 } });

    const results = await Promise.all(Array.from({ length: 5 }, () => genesys.axiosRef.get(ORG_ME).then((response) => response.status)));
    await sleep(1_500);

    expect(results).toEqual([200, 200, 200, 200, 200]);
    expect(store.claims).toBeLessThanOrEqual(5 + 2); // at most one each before the store counts as down, then a probe a second
  });

  it('answering each claim slowly does not hold a caller past maxWaitMs while it tries every token of the pool', async () => {
    const store = new ScriptedBudgetStore(async () => {
      await sleep(400);
      return { granted: false, retryInMs: 60_000 };
    });
    const genesys = await start(store, { tokenPool: { size: 10 }, rateLimit: { requestsPerToken: 100, windowMs: 60_000, maxWaitMs: 500 } });
    await genesys.axiosRef.get(ORG_ME).catch(() => undefined); // the first token is at hand from here on
    const started = Date.now();

    await expect(genesys.axiosRef.get(ORG_ME)).rejects.toMatchObject({ code: 'throttled' });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('going silent holds only the callers that find it out: while it is failing, no caller waits on its once-a-second probe', async () => {
    const store = new ScriptedBudgetStore((claim) => (claim === 1 ? { granted: true, claimId: 'first', remaining: 99, replicas: 1 } : new Promise<never>(() => undefined)));
    const genesys = await start(store, { rateLimit: { requestsPerToken: 100, windowMs: 60_000, maxWaitMs: 100 } });
    await genesys.axiosRef.get(ORG_ME);
    await genesys.axiosRef.get(ORG_ME); // finds out: its claim is never answered

    const latencies: number[] = [];
    for (let call = 0; call < 14; call++) {
      const started = Date.now();
      expect((await genesys.axiosRef.get(ORG_ME)).status).toBe(200);
      latencies.push(stalls.elapsedRunning(started));
      await sleep(150);
    }

    expect(Math.max(...latencies)).toBeLessThan(300);
    expect(store.claims).toBeGreaterThanOrEqual(3); // probed meanwhile, once a second
  });

  it('answering again is found by a probe no caller waits on: its grant goes back uncounted, and callers claim from it again', async () => {
    let silent = false;
    const store = new ScriptedBudgetStore((claim) => (silent ? new Promise<never>(() => undefined) : { granted: true, claimId: `claim-${claim}`, remaining: 99, replicas: 1 }));
    const genesys = await start(store, { rateLimit: { requestsPerToken: 100, windowMs: 60_000, maxWaitMs: 100 } });
    await genesys.axiosRef.get(ORG_ME);
    silent = true;
    await genesys.axiosRef.get(ORG_ME); // finds out
    silent = false;
    await sleep(1_100);

    const claimsBeforeProbe = store.claims;

    await genesys.axiosRef.get(ORG_ME); // takes the probe, which runs without it
    await genesys.axiosRef.get(ORG_ME);

    expect(store.settled).toContainEqual([`claim-${claimsBeforeProbe + 1}`, false]);
    expect(store.settled.at(-1)).toEqual([`claim-${store.claims}`, true]);
  });

  it('granting a claim after the application closed sends nothing: the caller gets shutdown', async () => {
    let grant = false;
    const store = new ScriptedBudgetStore(async () => {
      if (!grant) return { granted: true, claimId: 'first' };
      await sleep(600);
      return { granted: true, claimId: 'late' };
    });
    const genesys = await start(store);
    await genesys.axiosRef.get(ORG_ME);
    grant = true;
    const before = running!.emulator.stats.apiRequests;

    const call = genesys.axiosRef.get(ORG_ME);
    await sleep(100);
    const emulator = running!.emulator;
    const closing = running!.app.close();

    await expect(call).rejects.toMatchObject({ code: 'shutdown' });
    await closing;
    expect(emulator.stats.apiRequests).toBe(before);
    await emulator.close();
    running = undefined;
  });

  it('a cool-down it reported, then its outage, does not lock the replica out for a window once the cool-down has ended', async () => {
    const store = new ScriptedBudgetStore((claim) => {
      if (claim === 1) return { granted: true, claimId: 'first', remaining: 98, replicas: 1 };
      if (claim === 2) return { granted: false, retryInMs: 200, coolingDown: true, replicas: 1 };
      throw new Error('Redis went away');
    });
    const genesys = await start(store, { rateLimit: { requestsPerToken: 100, windowMs: 60_000, maxWaitMs: 3_000 } });
    await genesys.axiosRef.get(ORG_ME);

    const afterCoolDown = await genesys.axiosRef.get(ORG_ME);

    expect(afterCoolDown.status).toBe(200);
  });
});

describe('a replica back on the store after an outage', () => {
  it('keeps to its share while claims it started side by side come back granted: grants beyond the share go back unused', async () => {
    let storeDown = false;
    const store = new ScriptedBudgetStore(async (claim) => {
      if (claim === 1) return { granted: true, claimId: 'before-outage', remaining: 9, replicas: 2 };
      if (storeDown) throw new Error('Redis went away');
      await sleep(100); // slow enough that every caller of the burst has claimed before the first grant arrives
      return { granted: true, claimId: `after-outage-${claim}`, remaining: 8, replicas: 2 };
    });
    // Two replicas share 10 requests a window: this one's share is 5.
    const genesys = await start(store, { rateLimit: { requestsPerToken: 10, windowMs: 60_000, maxWaitMs: 1_500 } });
    await genesys.axiosRef.get(ORG_ME);
    storeDown = true;
    for (let call = 0; call < 3; call++) await genesys.axiosRef.get(ORG_ME); // counted here: 4 of the share of 5 used
    storeDown = false;
    await sleep(1_100); // the store is asked again a second after it failed
    const sentBefore = running!.emulator.stats.apiRequests;

    const burst = await Promise.allSettled(Array.from({ length: 5 }, () => genesys.axiosRef.get(ORG_ME)));

    expect(running!.emulator.stats.apiRequests - sentBefore).toBeLessThanOrEqual(1);
    expect(burst.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(running!.emulator.stats.apiRequests - sentBefore);
    expect(store.settled.filter(([claimId, counted]) => claimId.startsWith('after-outage') && counted === false).length).toBeGreaterThan(0);
  });
});

describe('RedisTokenStore options', () => {
  it.each(['{}', 'app{tenant}:', 'app}:'])('refuses a keyPrefix with braces (%s), which would break the hash tag that keeps a cluster script on one slot', (keyPrefix) => {
    expect(() => new RedisTokenStore({ url: 'redis://127.0.0.1:6390', keyPrefix })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });

  it.each(['http://127.0.0.1:6390', '127.0.0.1:6390', ''])('refuses a url that is not redis:// or rediss:// (%j)', (url) => {
    expect(() => new RedisTokenStore({ url })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });
});

describe('a replica that starts counting alone', () => {
  it('takes its share of a huge budget the store counted in one step, without holding the event loop', async () => {
    const { SlidingWindowBudget } = await import('../lib/rate-limit/sliding-window-budget.js');
    const budget = new SlidingWindowBudget(1e9, 60_000, 30_000);
    budget.shareWith(2, 1e9);
    const started = performance.now();

    budget.countAloneFrom(Date.now());

    expect(performance.now() - started).toBeLessThan(50);
    expect(budget.remaining(Date.now())).toBe(0);
  });
});

describe('a caller that gives up while waiting for budget', () => {
  it('gives back, uncounted, the budget the store grants it after it gave up', async () => {
    const store = new ScriptedBudgetStore(async (claim) => {
      if (claim === 1) return { granted: true, claimId: 'first' };
      await sleep(300);
      return { granted: true, claimId: 'granted-too-late' };
    });
    const genesys = await start(store);
    await genesys.axiosRef.get(ORG_ME);
    const quitter = new AbortController();

    const givingUp = genesys.axiosRef.get(ORG_ME, { signal: quitter.signal });
    await sleep(50);
    quitter.abort();

    await expect(givingUp).rejects.toMatchObject({ code: 'ERR_CANCELED' });
    await sleep(400);
    expect(store.settled).toContainEqual(['granted-too-late', false]);
  });
});

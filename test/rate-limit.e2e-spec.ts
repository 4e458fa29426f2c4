import { afterEach, describe, expect, it } from '@jest/globals';
import { createReadStream } from 'node:fs';
import axios, { isAxiosError, isCancel, type AxiosAdapter, type InternalAxiosRequestConfig } from 'axios';
import { GenesysAuthError, GenesysHttpService, GenesysTokenService, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import type { GenesysCloudEmulatorOptions } from 'nestjs-genesys-auth/testing';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { LoopStalls } from './support/loop-stalls.js';

const BUDGET = 20;
const WINDOW_MS = 1_000;
/** Genesys' per-token limit, sped up: 20 requests per token per second, enforced by the emulator and paced by the library. */
const LIMITS = { requestsPerToken: BUDGET, windowMs: WINDOW_MS };
const ORG_ME = '/api/v2/organizations/me';

interface LoadOutcome {
  ok: number;
  status429: number;
  otherFailures: unknown[];
  /**
   * Requests completed per second while saturated: from the first request of the second window to the
   * first request of the last window (`perWindow` requests each), i.e. over whole windows only.
   */
  sustainedPerSecond: number;
}

/**
 * Offers `perSecond` requests a second for `seconds`, each through `genesys`, and waits for all of them.
 * Each second's requests go at once: spaced out by timers, a busy machine would offer fewer than the
 * budget, and the test would measure its own sending instead of the library's pacing.
 */
async function offerLoad(genesys: GenesysHttpService, perSecond: number, seconds: number, perWindow: number): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { ok: 0, status429: 0, otherFailures: [], sustainedPerSecond: 0 };
  const doneAt: number[] = [];
  const calls: Promise<void>[] = [];
  for (let index = 0; index < perSecond * seconds; index++) {
    if (index > 0 && index % perSecond === 0) await sleep(1_000);
    calls.push(
      genesys.axiosRef.get(ORG_ME).then(
        () => {
          outcome.ok++;
          doneAt.push(Date.now());
        },
        (error: unknown) => {
          if (isAxiosError(error) && error.response?.status === 429) outcome.status429++;
          else outcome.otherFailures.push(error);
        },
      ),
    );
  }
  await Promise.all(calls);
  doneAt.sort((a, b) => a - b);
  const total = doneAt.length;
  outcome.sustainedPerSecond = (total - 2 * perWindow) / ((doneAt[total - perWindow] - doneAt[perWindow]) / 1_000);
  process.stdout.write(`\n${perSecond}/s offered for ${seconds} s: ${outcome.sustainedPerSecond.toFixed(1)} requests/s sustained\n`);
  return outcome;
}

describe('rate limits', () => {
  let running: EmulatedApp | undefined;
  const emulator = () => running!.emulator;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  const start = async (options: Partial<GenesysAuthModuleOptions> = {}, emulator: GenesysCloudEmulatorOptions = { apiRateLimit: LIMITS }) => {
    running = await startEmulatedApp({ rateLimit: { ...LIMITS, maxWaitMs: 30_000 }, ...options }, emulator);
    return { genesys: running.app.get(GenesysHttpService), tokens: running.app.get(GenesysTokenService), emulator: running.emulator };
  };

  it('paces twice the budget without a single 429, sent or seen, at 95 % of the budget or more', async () => {
    const { genesys, emulator } = await start();

    const outcome = await offerLoad(genesys, 2 * BUDGET, 3, BUDGET);

    expect(outcome).toMatchObject({ ok: 2 * BUDGET * 3, status429: 0, otherFailures: [] });
    expect(emulator.stats.rateLimited).toBe(0);
    expect(outcome.sustainedPerSecond).toBeGreaterThanOrEqual(0.95 * BUDGET);
    expect(emulator.stats.tokenRequests).toBe(1);
  }, 30_000);

  it('spreads requests over a pool of 4 tokens for about 4 times the throughput, still without 429s', async () => {
    const { genesys, emulator, tokens } = await start({ tokenPool: { size: 4 } });

    const outcome = await offerLoad(genesys, 8 * BUDGET, 2, 4 * BUDGET);

    expect(outcome).toMatchObject({ ok: 8 * BUDGET * 2, status429: 0, otherFailures: [] });
    expect(emulator.stats.rateLimited).toBe(0);
    expect(outcome.sustainedPerSecond).toBeGreaterThanOrEqual(3.5 * BUDGET);
    expect(emulator.stats.tokenRequests).toBe(4);
    expect(tokens.getState().pool).toEqual({ size: 4, held: 4, valid: 4, coolingDown: 0, coolDowns: [] });
  }, 30_000);

  it('cools a token down after a 429 on one route, replays that request after Retry-After, and keeps other routes flowing on another token', async () => {
    const { genesys, emulator, tokens } = await start({ tokenPool: { size: 2 } });
    await genesys.axiosRef.get(ORG_ME);
    emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 2, times: 1 });
    const started = Date.now();

    const limited = genesys.axiosRef.get('/api/v2/routing/queues').then(() => Date.now() - started);
    await sleep(100);
    expect(tokens.getState().pool.coolingDown).toBe(1);
    const others = await Promise.all(Array.from({ length: 10 }, () => genesys.axiosRef.get(ORG_ME).then(() => Date.now() - started)));

    expect(Math.max(...others)).toBeLessThan(1_000);
    expect(await limited).toBeGreaterThanOrEqual(2_000);
    expect(emulator.stats.rateLimited).toBe(1);
  }, 15_000);

  it('makes every request on a token wait out its cool-down instead of collecting 429s of their own', async () => {
    const { genesys, emulator } = await start();
    await genesys.axiosRef.get(ORG_ME);
    emulator.rateLimitApi(1, 1);
    const started = Date.now();

    const first = genesys.axiosRef.get(ORG_ME);
    await sleep(50);
    await Promise.all([first, ...Array.from({ length: 5 }, () => genesys.axiosRef.get(ORG_ME))]);

    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(emulator.stats.rateLimited).toBe(1);
  });

  it('replays a 429 without Retry-After after a bounded backoff', async () => {
    const { genesys, emulator } = await start();
    emulator.inject('api', { status: 429, body: { code: 'too.many.requests', status: 429 } }, 1);
    const started = Date.now();

    await expect(genesys.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('hands back a 429 whose Retry-After would exceed maxWaitMs at once, and cools the token down', async () => {
    const { genesys, emulator, tokens } = await start({ rateLimit: { ...LIMITS, maxWaitMs: 1_000 } });
    emulator.rateLimitApi(5, 1);
    const started = Date.now();

    const error = await genesys.axiosRef.get(ORG_ME).catch((e: unknown) => e);

    expect(isAxiosError(error) && error.response?.status).toBe(429);
    expect(isAxiosError(error) && error.message).toContain('would exceed rateLimit.maxWaitMs');
    expect(Date.now() - started).toBeLessThan(500);
    expect(tokens.getState().pool.coolingDown).toBe(1);
  });

  it.each([
    ['a day in seconds', '86400'],
    ['1e9 seconds', '1e9'],
    ['a date years ahead', 'Tue, 25 Nov 2036 12:00:00 GMT'],
  ])('cools a token down at most rateLimit.maxCoolDownMs after a Retry-After of %s, and says until when', async (_, retryAfter) => {
    const { genesys, emulator, tokens } = await start({ rateLimit: { ...LIMITS, maxWaitMs: 5_000, maxCoolDownMs: 400 } });
    const stalls = new LoopStalls();
    emulator.inject('api', { status: 429, headers: { 'Retry-After': retryAfter } }, 1);
    let refusedAt = Number.POSITIVE_INFINITY;
    emulator.onExchange((exchange) => void (exchange.status === 429 && (refusedAt = Math.min(refusedAt, exchange.answeredAt))));
    const started = Date.now();

    const limited = genesys.axiosRef.get(ORG_ME);
    while (tokens.getState().pool.coolingDown === 0 && Date.now() - started < 1_000) await sleep(10);
    const { coolDowns } = tokens.getState().pool;

    await expect(limited).resolves.toMatchObject({ status: 200 });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(coolDowns).toEqual([{ slot: 0, until: expect.any(Date) }]);
    // From the 429's arrival (a few ms after the emulator sent it, later if the process stood still), at most maxCoolDownMs.
    const until = coolDowns[0].until.getTime();
    expect(stalls.elapsedRunning(refusedAt, until)).toBeLessThanOrEqual(400 + 50);
    await expect(genesys.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });
    stalls.stop();
  });

  it('after a cool-down sends one request first and releases the others only once it succeeds: no herd of 429s', async () => {
    const { genesys, emulator, tokens } = await start({ rateLimit: { requestsPerToken: 300, windowMs: 60_000, maxWaitMs: 20_000 } }, { apiRateLimit: false });
    await genesys.axiosRef.get(ORG_ME);
    emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 1, durationMs: 3_000 });
    const first = genesys.axiosRef.get('/api/v2/routing/queues');
    while (tokens.getState().pool.coolingDown === 0) await sleep(5); // the herd gathers once the 429 is known

    const herd = Array.from({ length: 199 }, () => genesys.axiosRef.get('/api/v2/routing/queues'));
    const statuses = await Promise.all([first, ...herd].map((call) => call.then((response) => response.status)));

    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(emulator.stats.rateLimited).toBeLessThanOrEqual(10);
    await expect(genesys.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });
  }, 20_000);

  it('does not stall a token on trial when its first request after the cool-down fails before it is sent', async () => {
    const { genesys } = await start({ apiRequestTimeoutMs: 300, tokenRequestTimeoutMs: 300, rateLimit: { requestsPerToken: 50, windowMs: 1_000, maxWaitMs: 3_000 } }, { apiRateLimit: false });
    await genesys.axiosRef.get(ORG_ME);
    emulator().rateLimitApi(1, 1);
    await genesys.axiosRef.get(ORG_ME, { validateStatus: () => true }); // a 429 the caller takes as is: the token is on trial

    await genesys.axiosRef.post(ORG_ME, { n: 1n }).catch(() => undefined); // a BigInt body fails in axios before it is sent

    await expect(genesys.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });
  }, 10_000);

  it('gives back the budget of requests answered 429: a burst refused by a route limit starves no other route', async () => {
    const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 50, windowMs: 60_000, maxWaitMs: 5_000, maxCoolDownMs: 200 } }, { apiRateLimit: false });
    await genesys.axiosRef.get(ORG_ME);
    emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 60, times: 40 });

    await Promise.all(Array.from({ length: 40 }, () => genesys.axiosRef.get('/api/v2/routing/queues').catch(() => undefined)));
    const started = Date.now();

    await expect(genesys.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 20_000);

  it('fails a request that waited maxWaitMs for budget with throttled, and never sends it', async () => {
    const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 2, windowMs: 10_000, maxWaitMs: 300 } }, { apiRateLimit: false });
    await Promise.all([genesys.axiosRef.get(ORG_ME), genesys.axiosRef.get(ORG_ME)]);
    const started = Date.now();

    const error = await genesys.axiosRef.get(ORG_ME).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GenesysAuthError);
    expect(error).toMatchObject({ code: 'throttled', message: expect.stringMatching(/not sent: waited \d+ ms for rate budget .*rateLimit.maxWaitMs/) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(emulator.stats.apiRequests).toBe(2);
  });

  it('fails fast with throttled once maxQueued requests are waiting', async () => {
    const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 10_000, maxWaitMs: 500, maxQueued: 1 } }, { apiRateLimit: false });
    await genesys.axiosRef.get(ORG_ME);
    const queued = genesys.axiosRef.get(ORG_ME).catch((e: unknown) => e);
    await sleep(20);
    const started = Date.now();

    const error = await genesys.axiosRef.get(ORG_ME).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'throttled', message: expect.stringContaining('rateLimit.maxQueued (1)') });
    expect(Date.now() - started).toBeLessThan(100);
    expect(await queued).toMatchObject({ code: 'throttled' });
    expect(emulator.stats.apiRequests).toBe(1);
  });

  it('gives a token renewed after a 401 a fresh budget', async () => {
    const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 3, windowMs: 10_000, maxWaitMs: 5_000 }, unauthorizedRenewalIntervalMs: 0 }, { apiRateLimit: false });
    await Promise.all([genesys.axiosRef.get(ORG_ME), genesys.axiosRef.get(ORG_ME)]);
    emulator.revokeAllTokens();
    const started = Date.now();

    await genesys.axiosRef.get(ORG_ME); // the old token's third request gets 401; the replay is the new token's first
    await Promise.all([genesys.axiosRef.get(ORG_ME), genesys.axiosRef.get(ORG_ME)]); // its second and third

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(emulator.stats.tokenRequests).toBe(2);
  });

  it('replaces a pool token the API refused without touching the others', async () => {
    const { genesys, tokens } = await start({ tokenPool: { size: 2 }, rateLimit: { requestsPerToken: 1, windowMs: 10_000, maxWaitMs: 5_000 }, unauthorizedRenewalIntervalMs: 0 }, { apiRateLimit: false });
    await Promise.all([genesys.axiosRef.get(ORG_ME), genesys.axiosRef.get(ORG_ME)]); // one request per token: both slots filled
    const [first, second] = tokens.pool.map((slot) => slot.heldToken!.accessToken);

    expect(tokens.invalidate(second)).toBe(true);

    expect(tokens.pool.map((slot) => slot.heldToken?.accessToken)).toEqual([first, undefined]);
  });

  describe('when requests are sent', () => {
    /** An adapter that answers 200 itself and records each config it is handed and when. */
    function recordingAdapter() {
      const sent: { config: InternalAxiosRequestConfig; at: number }[] = [];
      const adapter: AxiosAdapter = async (config) => {
        sent.push({ config, at: Date.now() });
        return { data: {}, status: 200, statusText: 'OK', headers: {}, config };
      };
      return { adapter, sent };
    }

    it("sends a request in the caller's own tick, signed, when a token with budget is at hand", async () => {
      const { genesys } = await start();
      await genesys.axiosRef.get(ORG_ME);
      const { adapter, sent } = recordingAdapter();

      const answered = genesys.axiosRef.get(ORG_ME, { adapter });
      const sentBeforeAnyAwait = sent.length;
      await answered;

      expect(sentBeforeAnyAwait).toBe(1);
      expect(sent[0]!.config.headers.Authorization).toMatch(/^Bearer /);
    });

    it('sends a request that waited for budget through its own adapter, signed', async () => {
      const { genesys } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 500, maxWaitMs: 5_000 } }, { apiRateLimit: false });
      await genesys.axiosRef.get(ORG_ME);
      const { adapter, sent } = recordingAdapter();
      const started = Date.now();

      await genesys.axiosRef.get(ORG_ME, { adapter });

      expect(sent).toHaveLength(1);
      expect(sent[0]!.at - started).toBeGreaterThanOrEqual(400);
      expect(sent[0]!.config.headers.Authorization).toMatch(/^Bearer /);
    });

    it('signs the replay of a request that waited for budget once, after a 429', async () => {
      const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 500, maxWaitMs: 5_000 } }, { apiRateLimit: false });
      await genesys.axiosRef.get(ORG_ME);
      emulator.rateLimitApi(1, 1);
      const started = Date.now();

      // Waits ~0.5 s for budget, gets the 429, waits out Retry-After (1 s); the replay finds budget free at once.
      await expect(genesys.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });

      expect(Date.now() - started).toBeLessThan(1_900);
      expect(emulator.stats).toMatchObject({ apiRequests: 3, rateLimited: 1 });
    });

    it('never sends a request whose cancelToken was cancelled while it waited for budget', async () => {
      const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 500, maxWaitMs: 5_000 } }, { apiRateLimit: false });
      await genesys.axiosRef.get(ORG_ME);
      const source = axios.CancelToken.source();

      const cancelled = genesys.axiosRef.post(ORG_ME, { a: 1 }, { cancelToken: source.token }).catch((error: unknown) => error);
      await sleep(100);
      source.cancel('no longer needed');

      expect(isCancel(await cancelled)).toBe(true);
      await sleep(100);
      expect(emulator.stats.apiRequests).toBe(1);
    });

    it("fails a request with its streamed body's error when the stream fails while the request waits for budget", async () => {
      const { genesys, emulator } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 500, maxWaitMs: 5_000 } }, { apiRateLimit: false });
      await genesys.axiosRef.get(ORG_ME);

      const error = await genesys.axiosRef.post(ORG_ME, createReadStream('/no/such/file')).catch((failure: unknown) => failure);

      expect(error).toMatchObject({ code: 'ENOENT' });
      expect(emulator.stats.apiRequests).toBe(1);
    });

    it('sends a request that waited for budget through the default adapter when it asked for none (adapter: null)', async () => {
      const { genesys } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 500, maxWaitMs: 5_000 } }, { apiRateLimit: false });
      await genesys.axiosRef.get(ORG_ME);

      await expect(genesys.axiosRef.get(ORG_ME, { adapter: null as never })).resolves.toMatchObject({ status: 200 });
    });

    it('fails a request whose body cannot be serialised at once, even out of budget, without taking a place in line', async () => {
      const { genesys } = await start({ rateLimit: { requestsPerToken: 1, windowMs: 10_000, maxWaitMs: 5_000, maxQueued: 1 } }, { apiRateLimit: false });
      await genesys.axiosRef.get(ORG_ME);
      const started = Date.now();

      await expect(genesys.axiosRef.post(ORG_ME, { count: 1n })).rejects.toThrow(/BigInt/);
      expect(Date.now() - started).toBeLessThan(200);

      // The one place in line is free: the next request waits there (until cancelled) instead of being refused.
      const controller = new AbortController();
      const next = genesys.axiosRef.get(ORG_ME, { signal: controller.signal }).catch((error: unknown) => error);
      await sleep(50);
      controller.abort();
      expect(isCancel(await next)).toBe(true);
    });
  });
});

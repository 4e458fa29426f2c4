import { afterEach, describe, expect, it } from '@jest/globals';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { isAxiosError } from 'axios';
import { GenesysHttpService, GenesysTokenService, MemoryTokenStore, type GenesysAuthModuleOptions, type GenesysTokenEvent } from 'nestjs-genesys-auth';
import { GenesysAuthHealthIndicator } from 'nestjs-genesys-auth/health';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { startRecordingServer } from './support/recording-server.js';

@Module({ imports: [TerminusModule], providers: [GenesysAuthHealthIndicator], exports: [GenesysAuthHealthIndicator] })
class HealthModule {}

const REFUSED = { status: 401, body: { message: 'Authentication failed.', code: 'bad.credentials', status: 401 } };

/**
 * Runs `callers` loops of API calls until `untilMs`, then on for at most `graceMs` more until more than
 * `moreThan` 401s are handed back (a busy machine sends fewer a second), counting them.
 */
async function hammer(genesys: GenesysHttpService, callers: number, untilMs: number, moreThan = 0, graceMs = 0) {
  let unauthorized = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < untilMs || (unauthorized <= moreThan && Date.now() < untilMs + graceMs)) {
        await genesys.axiosRef.get('/api/v2/organizations/me').catch((error: unknown) => {
          if (isAxiosError(error) && error.response?.status === 401) unauthorized++;
          else throw error;
        });
      }
    }),
  );
  return unauthorized;
}

describe('401s from the API', () => {
  let running: EmulatedApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  const start = async (options: Partial<GenesysAuthModuleOptions> = {}) => {
    running = await startEmulatedApp({ isGlobal: true, ...options } as Partial<GenesysAuthModuleOptions>, {}, [HealthModule]);
    return {
      genesys: running.app.get(GenesysHttpService),
      tokens: running.app.get(GenesysTokenService),
      health: running.app.get(GenesysAuthHealthIndicator),
    };
  };

  it('renew the token at most once per unauthorizedRenewalIntervalMs, however many callers keep getting them', async () => {
    const { genesys } = await start({ unauthorizedRenewalIntervalMs: 500, rateLimit: false }); // thousands of 401s: pacing would slow the loop
    running!.emulator.inject('api', REFUSED);
    const started = Date.now();

    const unauthorized = await hammer(genesys, 50, started + 2_000, 100, 8_000);

    const intervals = Math.ceil((Date.now() - started) / 500);
    expect(unauthorized).toBeGreaterThan(100);
    expect(running!.emulator.stats.tokenRequests).toBeLessThanOrEqual(intervals + 1);
  });

  it('after a revocation right after the token was fetched renew it once and reach no caller, however many there are', async () => {
    const { genesys } = await start();
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.revokeAllTokens();

    const answers = await Promise.all(Array.from({ length: 200 }, () => genesys.axiosRef.get('/api/v2/organizations/me').then((response) => response.status)));

    expect(answers.filter((status) => status !== 200)).toEqual([]);
    expect(running!.emulator.stats.tokenRequests).toBe(2);
  });

  it('after a revocation reach no caller of a pool whose every token was revoked', async () => {
    const { genesys } = await start({ tokenPool: { size: 2 }, rateLimit: { requestsPerToken: 5, windowMs: 500, maxWaitMs: 5_000 } });
    await Promise.all(Array.from({ length: 20 }, () => genesys.axiosRef.get('/api/v2/organizations/me'))); // fills the pool
    await sleep(600);
    running!.emulator.revokeAllTokens();

    const answers = await Promise.all(Array.from({ length: 10 }, () => genesys.axiosRef.get('/api/v2/organizations/me').then((response) => response.status)));

    expect(answers.filter((status) => status !== 200)).toEqual([]);
  });

  it('after a revocation reach no caller whose request was signed before a refresh replaced its token', async () => {
    const { genesys, tokens } = await start();
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', { delayMs: 500 }, 1);
    const slow = genesys.axiosRef.get('/api/v2/organizations/me');
    await sleep(50);
    await tokens.refresh();
    running!.emulator.revokeAllTokens();

    await expect(slow).resolves.toMatchObject({ status: 200 });
  });

  it('cost at most one token request per 100 ms when unauthorizedRenewalIntervalMs is 0, and are recorded as refusals', async () => {
    const { genesys, tokens } = await start({ unauthorizedRenewalIntervalMs: 0, rateLimit: false });
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);

    await hammer(genesys, 20, Date.now() + 1_000);

    expect(running!.emulator.stats.tokenRequests).toBeLessThanOrEqual(1 + 10);
    expect(tokens.getState().status).toBe('rejected_by_api');
  });

  it('once the API accepts tokens again, callers of a client sharing a store are served at once, not refused', async () => {
    const { genesys } = await start({ unauthorizedRenewalIntervalMs: 2_000, tokenStore: new MemoryTokenStore() });
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);
    for (let call = 0; call < 4; call++) await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
    running!.emulator.clearFaults();

    await expect(genesys.axiosRef.get('/api/v2/organizations/me')).resolves.toMatchObject({ status: 200 });
  });

  /** Drives the client into `rejected_by_api` (a renewed token refused too), on a budget of 2 requests per 3 s. */
  const refusedOnSmallBudget = async () => {
    const started = await start({ unauthorizedRenewalIntervalMs: 10_000, rateLimit: { requestsPerToken: 2, windowMs: 3_000, maxWaitMs: 20_000 } });
    await started.genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);
    await started.genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
    expect(started.tokens.getState().status).toBe('rejected_by_api');
    running!.emulator.latencyMs = 100;
    return started;
  };
  const outcomesOf = (genesys: GenesysHttpService, callers: number) =>
    Promise.all(
      Array.from({ length: callers }, () =>
        genesys.axiosRef.get('/api/v2/organizations/me').then(
          (answer) => answer.status,
          (error: unknown) => (isAxiosError(error) ? error.response?.status : (error as { code?: string }).code),
        ),
      ),
    );

  it('while the API still refuses, callers beyond the budget are answered at once, not when budget frees up', async () => {
    const { genesys } = await refusedOnSmallBudget();
    await sleep(3_100);
    const startedAt = Date.now();
    const apiRequestsBefore = running!.emulator.stats.apiRequests;

    const outcomes = await outcomesOf(genesys, 5);

    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(outcomes).toEqual([401, 401, 'rejected_by_api', 'rejected_by_api', 'rejected_by_api']);
    expect(running!.emulator.stats.apiRequests).toBe(apiRequestsBefore + 2); // the callers beyond the budget were never sent
  }, 30_000);

  it('while the API refuses, a slow answer on the way holds no later caller past a second', async () => {
    const { genesys } = await refusedOnSmallBudget();
    await sleep(3_100);
    running!.emulator.inject('api', { ...REFUSED, delayMs: 5_000 }, 1);
    running!.emulator.inject('api', REFUSED);
    const onTheWay = outcomesOf(genesys, 3); // a slow 401, a fast one, and one waiting for budget
    await sleep(200);
    let slowest = 0;

    await Promise.all(
      Array.from({ length: 30 }, async (_, caller) => {
        await sleep(caller * 10);
        const sentAt = Date.now();
        await outcomesOf(genesys, 1);
        slowest = Math.max(slowest, Date.now() - sentAt);
      }),
    );
    await onTheWay;

    expect(slowest).toBeLessThan(1_000);
  }, 30_000);

  it('are handed back, without a new token request, when a 401 renewed the token within the interval', async () => {
    const { genesys } = await start();
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.revokeAllTokens();
    await genesys.axiosRef.get('/api/v2/organizations/me'); // renews
    running!.emulator.revokeAllTokens();

    const error = await genesys.axiosRef.get('/api/v2/organizations/me').catch((e: unknown) => e);

    expect(isAxiosError(error) && error.response?.status).toBe(401);
    expect(isAxiosError(error) && error.message).toContain('renewed after a 401 within the renewal interval');
    expect(running!.emulator.stats.tokenRequests).toBe(2);
  });

  it('renew a short-lived token older than a tenth of its lifetime, even within the interval', async () => {
    running = await startEmulatedApp({ isGlobal: true } as Partial<GenesysAuthModuleOptions>, { tokenLifetimeSeconds: 2 }, [HealthModule]);
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running.emulator.revokeAllTokens();
    await sleep(250); // past 0.2 s, a tenth of 2 s, well within the default 5 s

    await expect(genesys.axiosRef.get('/api/v2/organizations/me')).resolves.toMatchObject({ status: 200 });
    expect(running.emulator.stats.tokenRequests).toBe(2);
  });

  it('renew a token older than the interval and replay the request', async () => {
    const { genesys } = await start({ unauthorizedRenewalIntervalMs: 200 });
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.revokeAllTokens();
    await sleep(250);

    await expect(genesys.axiosRef.get('/api/v2/organizations/me')).resolves.toMatchObject({ status: 200 });
    expect(running!.emulator.stats.tokenRequests).toBe(2);
  });

  it('on fresh tokens are recorded: state rejected_by_api with a count, one event per refused token', async () => {
    const { genesys, tokens } = await start({ unauthorizedRenewalIntervalMs: 200 });
    const events: GenesysTokenEvent[] = [];
    tokens.events$.subscribe((event) => events.push(event));
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);

    await hammer(genesys, 10, Date.now() + 100);

    expect(tokens.getState()).toMatchObject({ status: 'rejected_by_api', consecutiveApiRejections: 1, hasValidToken: true });
    expect(events.filter((event) => event.type === 'rejected_by_api')).toEqual([
      { type: 'rejected_by_api', at: expect.any(Date), consecutiveApiRejections: 1 },
    ]);
  });

  it('on fresh tokens turn health down after the failure threshold, and up again once the API accepts a token', async () => {
    const { genesys, tokens, health } = await start({ unauthorizedRenewalIntervalMs: 150 });
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);

    while (tokens.getState().consecutiveApiRejections < 3) await hammer(genesys, 2, Date.now() + 100);
    const down = await health.isHealthy('genesys');
    running!.emulator.clearFaults();
    await sleep(150);
    await genesys.axiosRef.get('/api/v2/organizations/me');
    const up = await health.isHealthy('genesys');

    expect(down.genesys).toMatchObject({ status: 'down', tokenStatus: 'rejected_by_api', consecutiveApiRejections: 3 });
    expect(up.genesys).toMatchObject({ status: 'up', tokenStatus: 'valid' });
    expect(tokens.getState().consecutiveApiRejections).toBe(0);
  });

  it('on the replay of a slow caller are recorded too: a fresh token refused is counted however little traffic there is', async () => {
    const { genesys, tokens } = await start({ unauthorizedRenewalIntervalMs: 200 });
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);

    for (const pauseMs of [250, 450, 850]) {
      await sleep(pauseMs); // slower than the interval, which doubles with each refusal: each call renews, and the replay's 401 meets a fresh token
      await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
    }

    expect(tokens.getState()).toMatchObject({ status: 'rejected_by_api', consecutiveApiRejections: 3 });
  });

  it('on fresh tokens stop being reported without traffic once the API accepts tokens again', async () => {
    const { genesys, tokens } = await start({ unauthorizedRenewalIntervalMs: 100 });
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.inject('api', REFUSED);
    await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
    await sleep(150);
    await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
    expect(tokens.getState().status).toBe('rejected_by_api');

    running!.emulator.clearFaults();
    const deadline = Date.now() + 3_000;
    while (tokens.getState().status !== 'valid' && Date.now() < deadline) await sleep(50);

    expect(tokens.getState()).toMatchObject({ status: 'valid', consecutiveApiRejections: 0 });
    expect(running!.emulator.apiRequests.at(-1)).toMatchObject({ method: 'HEAD', path: '/api/v2/tokens/me' });
  });

  it('from another origin (after a redirect) never drop the API token', async () => {
    const { genesys, tokens } = await start({ unauthorizedRenewalIntervalMs: 0 });
    const foreign = await startRecordingServer('127.0.0.1', 0, 401);
    try {
      await genesys.axiosRef.get('/api/v2/organizations/me');
      const held = tokens.peekAccessToken();
      running!.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/elsewhere` } }, 1);

      const error = await genesys.axiosRef.get('/api/v2/organizations/me').catch((e: unknown) => e);

      expect(isAxiosError(error) && error.response?.status).toBe(401);
      expect(tokens.peekAccessToken()).toBe(held);
      expect(running!.emulator.stats.tokenRequests).toBe(1);
      expect(tokens.getState().consecutiveApiRejections).toBe(0);
    } finally {
      await foreign.close();
    }
  });

  it('are not declared over by a 200 from another origin after a redirect', async () => {
    const { genesys, tokens } = await start({ unauthorizedRenewalIntervalMs: 1_000 });
    const foreign = await startRecordingServer();
    try {
      await genesys.axiosRef.get('/api/v2/organizations/me');
      running!.emulator.inject('api', REFUSED, 2); // the request and its replay on the renewed token
      await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
      running!.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/elsewhere` } }, 1);

      await genesys.axiosRef.get('/api/v2/organizations/me');

      expect(tokens.getState()).toMatchObject({ status: 'rejected_by_api', consecutiveApiRejections: 1 });
    } finally {
      await foreign.close();
    }
  });
});

import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { TerminusModule } from '@nestjs/terminus';
import { Module } from '@nestjs/common';
import { GenesysHttpService, GenesysTokenService, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { GenesysAuthHealthIndicator } from 'nestjs-genesys-auth/health';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { LoopStalls } from './support/loop-stalls.js';

/** Bounds on a wait are checked on the time the process could run: a stall of the whole process holds up every timer alike. */
const stalls = new LoopStalls();
afterAll(() => stalls.stop());

@Module({ imports: [TerminusModule], providers: [GenesysAuthHealthIndicator], exports: [GenesysAuthHealthIndicator] })
class HealthModule {}

describe('GenesysAuthHealthIndicator', () => {
  let running: EmulatedApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  async function indicatorWith(options: Partial<GenesysAuthModuleOptions> = {}, lifetimeSeconds = 3600) {
    running = await startEmulatedApp({ isGlobal: true, ...options } as Partial<GenesysAuthModuleOptions>, { tokenLifetimeSeconds: lifetimeSeconds }, [HealthModule]);
    return running.app.get(GenesysAuthHealthIndicator);
  }

  it('is up with expiry, last refresh and the login host actually used while a valid token is held', async () => {
    const indicator = await indicatorWith({ fetchTokenOnStartup: true });

    const result = await indicator.isHealthy();

    expect(result.genesys).not.toHaveProperty('region'); // the emulator is not mypurecloud.com
    expect(result.genesys).toMatchObject({
      status: 'up',
      tokenStatus: 'valid',
      loginHost: new URL(running!.emulator.url).host,
      consecutiveFailures: 0,
      lastRefreshAt: expect.any(String),
    });
    expect(result.genesys.expiresInSeconds).toBeGreaterThan(3590);
  });

  it('lists a token cooling down after a 429 and until when, at most rateLimit.maxCoolDownMs ahead', async () => {
    const indicator = await indicatorWith({ rateLimit: { maxWaitMs: 100, maxCoolDownMs: 2_000 } });
    const genesys = running!.app.get(GenesysHttpService);
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running!.emulator.rateLimitApi(86_400, 1);
    await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);

    const result = await indicator.isHealthy();

    expect(result.genesys.pool).toMatchObject({ coolingDown: 1, coolDowns: [{ slot: 0, until: expect.any(String) }] });
    expect(Date.parse(result.genesys.pool.coolDowns[0].until)).toBeLessThanOrEqual(Date.now() + 2_000);
  });

  it('is down before any token was fetched, and a probe does not fetch one', async () => {
    const indicator = await indicatorWith();

    const result = await indicator.isHealthy('auth');

    expect(result.auth).toMatchObject({ status: 'down', tokenStatus: 'no_token' });
    expect(running!.emulator.stats.tokenRequests).toBe(0);
  });

  it('fetches a missing token first when fetchIfMissing is on', async () => {
    const indicator = await indicatorWith();

    const result = await indicator.isHealthy('genesys', { fetchIfMissing: true });

    expect(result.genesys.status).toBe('up');
    expect(running!.emulator.stats.tokenRequests).toBe(1);
  });

  it('with fetchIfMissing waits one token request at most, not the retries after it, and answers down', async () => {
    const indicator = await indicatorWith({ tokenRequestTimeoutMs: 300, retry: { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 1_000 } });
    running!.emulator.inject('token', { hang: true });
    const started = Date.now();

    const result = await indicator.isHealthy('genesys', { fetchIfMissing: true });

    expect(result.genesys).toMatchObject({ status: 'down', tokenStatus: 'refreshing' });
    expect(stalls.elapsedRunning(started)).toBeLessThan(1_000); // the token service's retries take 1.6 s at least
  });

  it('is down with the sanitized last error when credentials are refused', async () => {
    const indicator = await indicatorWith({ clientSecret: 'a-wrong-secret-1234', fetchTokenOnStartup: true });

    const result = await indicator.isHealthy();

    expect(result.genesys).toMatchObject({
      status: 'down',
      consecutiveFailures: 1,
      lastError: { code: 'invalid_client', status: 400, message: expect.stringContaining('invalid_client') },
    });
    expect(JSON.stringify(result)).not.toContain('a-wrong-secret-1234');
  });

  it('goes down after downAfterConsecutiveFailures failed refreshes even while the token is valid', async () => {
    // Refresh due at 2.25-2.4 s, two failures 20-40 ms apart, the token usable until 2.7 s.
    const indicator = await indicatorWith({ fetchTokenOnStartup: true, retry: { maxAttempts: 1, initialDelayMs: 20, maxDelayMs: 40 } }, 3);
    running!.emulator.inject('token', { status: 503 });
    const tokens = running!.app.get(GenesysTokenService);

    while (tokens.getState().consecutiveFailures < 2) await sleep(20);

    expect(tokens.getState().hasValidToken).toBe(true);
    expect((await indicator.isHealthy('genesys', { downAfterConsecutiveFailures: 2 })).genesys.status).toBe('down');
    expect((await indicator.isHealthy('genesys', { downAfterConsecutiveFailures: Infinity })).genesys.status).toBe('up');
  });

  it('reports the token pool: tokens held, valid and cooling down after a 429', async () => {
    const indicator = await indicatorWith({ fetchTokenOnStartup: true, tokenPool: { size: 3 } });
    running!.emulator.rateLimitApi(30, 1);
    await running!.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me', { signal: AbortSignal.timeout(200) }).catch(() => undefined);

    const result = await indicator.isHealthy();

    expect(result.genesys).toMatchObject({ status: 'up', pool: { size: 3, held: 1, valid: 1, coolingDown: 1 } });
  });

  it('never reports the token or the secret', async () => {
    const indicator = await indicatorWith({ fetchTokenOnStartup: true });

    const output = JSON.stringify(await indicator.isHealthy());

    expect(output).not.toContain(running!.emulator.lastIssuedToken);
    expect(output).not.toContain(running!.emulator.clientSecret);
  });
});

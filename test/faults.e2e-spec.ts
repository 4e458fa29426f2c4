import { afterEach, describe, expect, it } from '@jest/globals';
import { GenesysAuthError, GenesysHttpService, GenesysTokenService, type GenesysTokenEvent } from 'nestjs-genesys-auth';
import type { EmulatorFault } from 'nestjs-genesys-auth/testing';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';

/** Calls `call` every `everyMs` until `untilMs` (epoch), counting outcomes. */
async function callRepeatedly(call: () => Promise<unknown>, everyMs: number, untilMs: number) {
  const outcome = { ok: 0, failed: [] as unknown[] };
  while (Date.now() < untilMs) {
    await call().then(
      () => outcome.ok++,
      (error: unknown) => outcome.failed.push(error),
    );
    await sleep(everyMs);
  }
  return outcome;
}

describe('fault tolerance', () => {
  let running: EmulatedApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  describe('a login outage lasting a whole token lifetime (2 s)', () => {
    const MAX_BACKOFF_MS = 200;
    const TOKEN_TIMEOUT_MS = 150;

    it.each<[string, EmulatorFault]>([
      ['503 answers', { status: 503, body: 'Service Unavailable' }],
      ['no answers (timeouts)', { hang: true }],
      ['reset connections', { reset: true }],
      ['429 with Retry-After', { status: 429, headers: { 'Retry-After': '0.1' } }],
    ])('with %s: callers see no failure while the token is valid, and recovery takes one backoff step', async (_, fault) => {
      running = await startEmulatedApp(
        { retry: { maxAttempts: 1, initialDelayMs: 50, maxDelayMs: MAX_BACKOFF_MS }, tokenRequestTimeoutMs: TOKEN_TIMEOUT_MS },
        { tokenLifetimeSeconds: 2 },
      );
      const genesys = running.app.get(GenesysHttpService);
      const tokens = running.app.get(GenesysTokenService);
      await genesys.axiosRef.get('/api/v2/organizations/me');
      const expiresAt = tokens.getState().expiresAt!.getTime();
      const failures: Array<Extract<GenesysTokenEvent, { type: 'refresh_failed' }>> = [];
      const subscription = tokens.events$.subscribe((event) => {
        if (event.type === 'refresh_failed') failures.push(event);
      });
      running.emulator.inject('token', fault);

      // Usable until expiry less a tenth of the lifetime (0.2 s).
      const duringOutage = await callRepeatedly(() => genesys.axiosRef.get('/api/v2/organizations/me'), 25, expiresAt - 250);
      expect(duringOutage.failed).toEqual([]);
      expect(duringOutage.ok).toBeGreaterThan(20);

      // The refresh, due at 75-80 % of the lifetime, has failed by the time the token expires.
      await sleep(Math.max(0, expiresAt - Date.now()));
      expect(tokens.getState().consecutiveFailures).toBeGreaterThan(0);
      running.emulator.clearFaults();
      const tokenRequestsBeforeRecovery = running.emulator.stats.tokenRequests;
      while (!tokens.getState().hasValidToken) await sleep(5);
      subscription.unsubscribe();

      // One backoff step: every failure scheduled the next try at most the longest backoff later, and the
      // first token request after login came back got the token (a hanging one in flight times out first).
      // Asserted on the service's own schedule, not on a wall clock a busy CI machine can hold up.
      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) {
        expect(failure.nextAttemptAt!.getTime() - failure.at.getTime()).toBeLessThanOrEqual(MAX_BACKOFF_MS);
      }
      expect(running.emulator.stats.tokenRequests - tokenRequestsBeforeRecovery).toBe(1);
      await expect(genesys.axiosRef.get('/api/v2/organizations/me')).resolves.toMatchObject({ status: 200 });
    });
  });

  describe('a failed start-up fetch', () => {
    it('does not fail the first caller at once: it waits for the retry, which succeeds once login is back', async () => {
      running = await startEmulatedApp({ fetchTokenOnStartup: true }, {}, [], (emulator) => emulator.inject('token', { status: 400, body: { error: 'invalid_request', error_description: 'rate limit exceeded; try again later' } }, 1));

      await expect(running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me')).resolves.toMatchObject({ status: 200 });
      expect(running.emulator.stats.tokenRequests).toBe(2);
    });

    it('hands the first caller the error only after retry.maxAttempts more tries, as an error of its own', async () => {
      running = await startEmulatedApp({ fetchTokenOnStartup: true, retry: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 100 } }, {}, [], (emulator) =>
        emulator.inject('token', { status: 503, body: 'Service Unavailable' }),
      );
      const tokens = running.app.get(GenesysTokenService);
      const startupError = tokens.getState().lastError;

      const error = await tokens.getToken().catch((e: unknown) => e);

      expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'unavailable' });
      expect(error).not.toBe(startupError);
      expect(running.emulator.stats.tokenRequests).toBe(1 + 3);
    });
  });

  describe('expires_in rules', () => {
    const WINDOW_MS = 1_200;

    it.each<[string, unknown, 'token' | 'bad_response', number]>([
      ['0', 0, 'bad_response', 8],
      ['negative', -30, 'bad_response', 8],
      ['below one second', 0.5, 'bad_response', 8],
      ['not a number', 'soon', 'bad_response', 8],
      ['1 second', 1, 'token', 4],
      ['fractional (1.5 s)', 1.5, 'token', 3],
      ['a numeric string', '3600', 'token', 1],
      ['huge', 1e15, 'token', 1],
    ])('expires_in %s keeps token requests bounded', async (_, expiresIn, outcome, maxRequests) => {
      running = await startEmulatedApp({ retry: { maxAttempts: 1, initialDelayMs: 50, maxDelayMs: 400 } });
      const tokens = running.app.get(GenesysTokenService);
      running.emulator.inject('token', { status: 200, body: { access_token: 'granted-token', token_type: 'bearer', expires_in: expiresIn } });

      const seen = await callRepeatedly(() => tokens.getAccessToken(), 10, Date.now() + WINDOW_MS);

      expect(running.emulator.stats.tokenRequests).toBeLessThanOrEqual(maxRequests);
      expect(running.emulator.stats.tokenRequests).toBeGreaterThanOrEqual(1);
      if (outcome === 'token') expect(seen.failed).toEqual([]);
      else expect(seen.ok).toBe(0);
      for (const error of seen.failed) expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'bad_response' });
    });

    it('clamps a huge expires_in to 48 hours', async () => {
      running = await startEmulatedApp();
      running.emulator.inject('token', { status: 200, body: { access_token: 'granted-token', token_type: 'bearer', expires_in: 1e15 } });

      const requestedAt = Date.now();
      const token = await running.app.get(GenesysTokenService).getToken();

      expect(token.expiresAt.getTime() - requestedAt).toBeGreaterThanOrEqual(48 * 3_600_000);
      expect(token.expiresAt.getTime() - token.obtainedAt.getTime()).toBeLessThanOrEqual(48 * 3_600_000);
    });
  });

  describe('shutdown', () => {
    it('during a backoff wait: resolves at once and the waiting caller gets a shutdown error', async () => {
      running = await startEmulatedApp({ retry: { maxAttempts: 5, initialDelayMs: 10_000, maxDelayMs: 10_000 } });
      running.emulator.inject('token', { status: 503 });
      const waiting = running.app.get(GenesysTokenService).getToken().catch((error: unknown) => error);
      await sleep(100);
      const started = Date.now();

      await running.app.close();

      expect(Date.now() - started).toBeLessThan(500);
      expect(await waiting).toBeInstanceOf(GenesysAuthError);
      expect(await waiting).toMatchObject({ code: 'shutdown' });
    });

    it('during a 429 wait: resolves at once and the caller gets the 429', async () => {
      running = await startEmulatedApp({ rateLimitRetry: { maxRetries: 1, maxDelayMs: 10_000 } });
      const genesys = running.app.get(GenesysHttpService);
      running.emulator.rateLimitApi(8, 1);
      const waiting = genesys.axiosRef.get('/api/v2/organizations/me').catch((error: { response?: { status: number } }) => error);
      await sleep(100);
      const started = Date.now();

      await running.app.close();

      expect(Date.now() - started).toBeLessThan(500);
      expect((await waiting as { response?: { status: number } }).response?.status).toBe(429);
    });

    it('refuses new token requests after shutdown with a shutdown error', async () => {
      running = await startEmulatedApp();
      const tokens = running.app.get(GenesysTokenService);
      await running.app.close();

      await expect(tokens.getAccessToken()).rejects.toMatchObject({ code: 'shutdown' });
      expect(tokens.getState().status).toBe('stopped');
    });
  });
});

import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { GenesysAuthError, GenesysTokenService, type GenesysAuthModuleOptions, type GenesysTokenEvent } from 'nestjs-genesys-auth';
import { systemClock } from '../lib/clock.js';
import { resolveGenesysAuthOptions } from '../lib/genesys-auth.options.js';
import type { GenesysTokenClient } from '../lib/token/token-client.js';
import { outage, ScriptedTokenClient } from './support/scripted-token-client.js';

const HOUR = 3_600_000;

/** A token service as the client unit builds it, with a scripted token client; time is fake from here on. */
async function start(client: ScriptedTokenClient, options: Partial<GenesysAuthModuleOptions> = {}) {
  jest.useFakeTimers({ now: 1_000_000 });
  const schedulerRegistry = new SchedulerRegistry();
  const config = resolveGenesysAuthOptions({
    clientId: 'id',
    clientSecret: 'secret',
    fetchTokenOnStartup: false,
    retry: { maxAttempts: 1, initialDelayMs: 100, maxDelayMs: 1000 },
    ...options,
  });
  const tokens = new GenesysTokenService(config, client as unknown as GenesysTokenClient, systemClock, { logContext: 'GenesysAuth', schedulerRegistry });
  await tokens.start();
  return { app: { schedulerRegistry, close: async () => tokens.close() }, tokens };
}

describe('GenesysTokenService (fake timers)', () => {
  let app: Awaited<ReturnType<typeof start>>['app'] | undefined;
  beforeAll(() => Logger.overrideLogger(false));
  afterEach(async () => {
    await app?.close();
    app = undefined;
    jest.useRealTimers();
  });

  it('serves the cached token without new requests until the scheduled refresh', async () => {
    const client = new ScriptedTokenClient([], HOUR);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));

    const first = await tokens.getAccessToken();
    await jest.advanceTimersByTimeAsync(0.7 * HOUR);

    expect(await tokens.getAccessToken()).toBe(first);
    expect(client.calls).toBe(1);
  });

  it('refreshes on a timer between 75% and 80% of the lifetime', async () => {
    const client = new ScriptedTokenClient([], HOUR);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));

    await tokens.getAccessToken();
    await jest.advanceTimersByTimeAsync(0.75 * HOUR - 1);
    expect(client.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(0.05 * HOUR + 1);

    expect(client.calls).toBe(2);
    expect(await tokens.getAccessToken()).toBe('token-2');
  });

  it('stops handing out a token in the last tenth of a short lifetime', async () => {
    const client = new ScriptedTokenClient([], 100_000);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client, { retry: { maxAttempts: 1, initialDelayMs: 60_000, maxDelayMs: 60_000 } }));
    await tokens.getAccessToken();
    client.enqueue(outage(), outage(), outage());

    await jest.advanceTimersByTimeAsync(89_000);
    expect(tokens.getState().hasValidToken).toBe(true);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(tokens.getState().hasValidToken).toBe(false);
  });

  it('keeps handing out the old token while refreshes fail', async () => {
    const client = new ScriptedTokenClient([], HOUR);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));
    const first = await tokens.getAccessToken();
    client.enqueue(...Array.from({ length: 1000 }, outage));

    await jest.advanceTimersByTimeAsync(0.8 * HOUR + 5_000);

    expect(client.calls).toBeGreaterThan(3);
    expect(await tokens.getAccessToken()).toBe(first);
    expect(tokens.getState()).toMatchObject({ status: 'failing', hasValidToken: true });
  });

  it('backs off exponentially with jitter between failed refreshes, up to retry.maxDelayMs', async () => {
    const client = new ScriptedTokenClient([], HOUR);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));
    await tokens.getAccessToken();
    client.enqueue(...Array.from({ length: 7 }, outage));

    await jest.advanceTimersByTimeAsync(0.8 * HOUR + 10_000);

    const gaps = client.calledAt.slice(2, 9).map((at, index) => at - client.calledAt[index + 1]);
    const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
    gaps.forEach((gap, index) => {
      expect(gap).toBeGreaterThanOrEqual(ceilings[index] / 2);
      expect(gap).toBeLessThanOrEqual(ceilings[index]);
    });
  });

  it('waits as long as Retry-After asks before trying again', async () => {
    const client = new ScriptedTokenClient([new GenesysAuthError('rate_limited', 'HTTP 429', { status: 429, retryAfterMs: 700 })]);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));

    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'rate_limited' });
    await jest.advanceTimersByTimeAsync(699);
    expect(client.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(1);

    expect(client.calls).toBe(2);
  });

  it('retries within one call up to retry.maxAttempts before giving a caller the token', async () => {
    const client = new ScriptedTokenClient([outage(), outage()]);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client, { retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1000 } }));

    const token = tokens.getAccessToken();
    await jest.advanceTimersByTimeAsync(300);

    await expect(token).resolves.toBe('token-1');
    expect(client.calls).toBe(3);
  });

  it('does not retry bad credentials on its own and fails fast until retry.maxDelayMs has passed', async () => {
    const badCredentials = new GenesysAuthError('invalid_client', 'HTTP 400, invalid_client', { status: 400 });
    const client = new ScriptedTokenClient([badCredentials, badCredentials]);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));

    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client', cause: badCredentials });
    await jest.advanceTimersByTimeAsync(999);
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client', cause: badCredentials });
    expect(client.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(HOUR);
    expect(client.calls).toBe(1);
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client', cause: badCredentials });

    expect(client.calls).toBe(2);
  });

  it('reports an unexpected error as unavailable, without its message', async () => {
    const client = new ScriptedTokenClient([new Error('internal detail with a secret')]);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));

    const error = await tokens.getToken().catch((e: unknown) => e as GenesysAuthError);

    expect(error).toBeInstanceOf(GenesysAuthError);
    expect(error).toMatchObject({ code: 'unavailable', message: 'Genesys token request failed unexpectedly' });
  });

  it('keeps a newer token when a stale one is invalidated', async () => {
    const client = new ScriptedTokenClient();
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));
    const stale = await tokens.getAccessToken();
    await jest.advanceTimersByTimeAsync(5_000); // older than unauthorizedRenewalIntervalMs: may be renewed
    tokens.invalidate(stale);
    const fresh = await tokens.getAccessToken();

    tokens.invalidate(stale);

    expect(await tokens.getAccessToken()).toBe(fresh);
    expect(client.calls).toBe(2);
  });

  it('registers its refresh timer in SchedulerRegistry when given one', async () => {
    const client = new ScriptedTokenClient();
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));

    await tokens.getAccessToken();

    expect(app.schedulerRegistry.getTimeouts()).toEqual([expect.stringMatching(/^genesys-auth-token-refresh-/)]);
  });

  it('clears every timer on shutdown and gives waiting callers a shutdown error', async () => {
    const client = new ScriptedTokenClient([outage()]);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client, { retry: { maxAttempts: 3, initialDelayMs: 10_000, maxDelayMs: 10_000 } }));
    const waiting = tokens.getToken().catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(1);

    await app.close();
    app = undefined;

    expect(await waiting).toMatchObject({ code: 'shutdown' });
    expect(jest.getTimerCount()).toBe(0);
    expect(client.closed).toBe(true);
  });

  it('emits refreshed and refresh_failed events, and completes them on shutdown', async () => {
    const client = new ScriptedTokenClient([], HOUR);
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));
    const events: GenesysTokenEvent[] = [];
    let completed = false;
    tokens.events$.subscribe({ next: (event) => events.push(event), complete: () => (completed = true) });

    await tokens.getAccessToken();
    client.enqueue(outage());
    await tokens.refresh().catch(() => undefined);
    await app.close();
    app = undefined;

    expect(events).toEqual([
      { type: 'refreshed', at: expect.any(Date), expiresAt: new Date(1_000_000 + HOUR), slot: 0 },
      { type: 'refresh_failed', at: expect.any(Date), error: expect.objectContaining({ code: 'unavailable' }), consecutiveFailures: 1, nextAttemptAt: expect.any(Date), slot: 0 },
    ]);
    expect(completed).toBe(true);
  });

  it('fetches a new token when refresh() is called from a refreshed event handler', async () => {
    const client = new ScriptedTokenClient();
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client));
    const fromHandler: Promise<unknown>[] = [];
    tokens.events$.subscribe((event) => {
      if (event.type === 'refreshed' && fromHandler.length === 0) fromHandler.push(tokens.refresh());
    });

    await tokens.getAccessToken();
    await Promise.all(fromHandler);

    expect(client.calls).toBe(2);
    expect(await tokens.getAccessToken()).toBe('token-2');
  });

  it('fetches the first token during start-up when fetchTokenOnStartup is on', async () => {
    const client = new ScriptedTokenClient();
    let tokens: GenesysTokenService;
    ({ app, tokens } = await start(client, { fetchTokenOnStartup: true }));

    expect(client.calls).toBe(1);
    expect(tokens.getState().status).toBe('valid');
  });
});

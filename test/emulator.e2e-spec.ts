import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { GenesysCloudEmulator, type EmulatorExchange, type GenesysCloudEmulatorOptions } from 'nestjs-genesys-auth/testing';
import { FixedWindowLimiter } from '../lib/testing/fixed-window-limiter.js';

// Plain fetch over loopback: the emulator is tested on its own, without the library's module.

const CLIENTS = [
  { clientId: 'client-a', clientSecret: 'secret-a', orgName: 'Org A' },
  { clientId: 'client-b', clientSecret: 'secret-b', orgName: 'Org B', orgId: '11111111-2222-4333-8444-555555555555' },
];
/** A short window so that tests of the per-token limit run in milliseconds. */
const SMALL_LIMIT = { requestsPerToken: 5, windowMs: 2_500 };

const started: GenesysCloudEmulator[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((emulator) => emulator.close()));
});

async function start(options: GenesysCloudEmulatorOptions = {}): Promise<GenesysCloudEmulator> {
  const emulator = await GenesysCloudEmulator.start(options);
  started.push(emulator);
  return emulator;
}

function requestToken(emulator: GenesysCloudEmulator, clientId = emulator.clientId): Promise<Response> {
  const { clientSecret } = emulator.moduleOptions(clientId);
  return fetch(`${emulator.loginBaseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
}

async function tokenFor(emulator: GenesysCloudEmulator, clientId = emulator.clientId): Promise<string> {
  const response = await requestToken(emulator, clientId);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function api(emulator: GenesysCloudEmulator, path: string, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${emulator.apiBaseUrl}${path}`, {
    headers: { ...headers, ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }) },
  });
}

/** Sends `count` GETs to `path` one after another and returns their statuses. */
async function statuses(emulator: GenesysCloudEmulator, count: number, token: string, path = '/api/v2/organizations/me'): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await api(emulator, path, token);
    await response.arrayBuffer();
    result.push(response.status);
  }
  return result;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('GenesysCloudEmulator: several clients', () => {
  it("binds each token to its client and answers organizations/me with that client's org", async () => {
    const emulator = await start({ clients: CLIENTS });
    const [tokenA, tokenB] = [await tokenFor(emulator, 'client-a'), await tokenFor(emulator, 'client-b')];

    const orgA = await (await api(emulator, '/api/v2/organizations/me', tokenA)).json();
    const orgB = await (await api(emulator, '/api/v2/organizations/me', tokenB)).json();

    expect(orgA).toEqual({ id: emulator.clients[0].orgId, name: 'Org A', thirdPartyOrgName: 'org-a', state: 'active' });
    expect(orgB).toEqual({ id: '11111111-2222-4333-8444-555555555555', name: 'Org B', thirdPartyOrgName: 'org-b', state: 'active' });
  });

  it('keeps the single default client and its org when no clients are given', async () => {
    const emulator = await start();
    const org = await (await api(emulator, '/api/v2/organizations/me', await tokenFor(emulator))).json();

    expect(emulator.clients.map((client) => client.clientId)).toEqual(['emulator-client-id']);
    expect(org).toEqual({ id: '00000000-0000-4000-8000-000000000001', name: 'Emulated Org', thirdPartyOrgName: 'emulated-org', state: 'active' });
  });

  it('refuses one client\'s id with another client\'s secret', async () => {
    const emulator = await start({ clients: CLIENTS });
    const response = await fetch(`${emulator.loginBaseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=client-a&client_secret=secret-b',
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('gives module options for the named client, the first by default', async () => {
    const emulator = await start({ clients: CLIENTS });

    expect(emulator.moduleOptions()).toEqual({ clientId: 'client-a', clientSecret: 'secret-a', loginBaseUrl: emulator.url, apiBaseUrl: emulator.url });
    expect(emulator.moduleOptions('client-b')).toMatchObject({ clientId: 'client-b', clientSecret: 'secret-b' });
    expect(() => emulator.moduleOptions('client-z')).toThrow(/client-z/);
  });

  it('refuses a client list together with clientId, an empty list and duplicate ids', async () => {
    await expect(GenesysCloudEmulator.start({ clients: CLIENTS, clientId: 'x' })).rejects.toThrow(/not both/);
    await expect(GenesysCloudEmulator.start({ clients: [] })).rejects.toThrow(/at least one/);
    await expect(GenesysCloudEmulator.start({ clients: [CLIENTS[0], CLIENTS[0]] })).rejects.toThrow(/unique/);
  });

  it('records the client whose token each API request carried, and none without a token', async () => {
    const emulator = await start({ clients: CLIENTS });
    await api(emulator, '/api/v2/organizations/me', await tokenFor(emulator, 'client-b'));
    await api(emulator, '/api/v2/organizations/me', 'unknown-token');
    await api(emulator, '/api/v2/organizations/me');

    expect(emulator.apiRequests.map((request) => request.clientId)).toEqual(['client-b', undefined, undefined]);
  });

  it('counts a request whose token belongs to another client as a mismatch', async () => {
    const emulator = await start({ clients: CLIENTS });
    const tokenA = await tokenFor(emulator, 'client-a');

    const mismatch = await api(emulator, '/api/v2/organizations/me', tokenA, { 'x-emulator-expect-client': 'client-b' });
    const match = await api(emulator, '/api/v2/organizations/me', tokenA, { 'x-emulator-expect-client': 'client-a' });

    expect(mismatch.status).toBe(403);
    expect(await mismatch.json()).toMatchObject({ code: 'emulator.client.mismatch', status: 403, message: expect.stringContaining('client-a') });
    expect(match.status).toBe(200);
    expect(emulator.stats.clientMismatches).toBe(1);
  });

  it('counts served API requests per client', async () => {
    const emulator = await start({ clients: CLIENTS });
    const tokenA = await tokenFor(emulator, 'client-a');
    await statuses(emulator, 3, tokenA);
    await statuses(emulator, 1, await tokenFor(emulator, 'client-b'));
    await api(emulator, '/api/v2/organizations/me', tokenA, { 'x-emulator-expect-client': 'client-b' });

    expect(emulator.stats.requestsByClient).toEqual({ 'client-a': 3, 'client-b': 1 });
  });

  it("revokes only the named client's tokens, and every client's without a name", async () => {
    const emulator = await start({ clients: CLIENTS });
    const [tokenA, tokenB] = [await tokenFor(emulator, 'client-a'), await tokenFor(emulator, 'client-b')];

    emulator.revokeAllTokens('client-a');
    const afterNamed = [(await api(emulator, '/api/v2/tokens/me', tokenA)).status, (await api(emulator, '/api/v2/organizations/me', tokenB)).status];
    emulator.revokeAllTokens();
    const afterAll = (await api(emulator, '/api/v2/organizations/me', tokenB)).status;

    expect(afterNamed).toEqual([401, 200]);
    expect(afterAll).toBe(401);
  });
});

describe('GenesysCloudEmulator: users', () => {
  it("answers users/me with the calling client's user", async () => {
    const emulator = await start({ clients: CLIENTS });
    const userA = await (await api(emulator, '/api/v2/users/me', await tokenFor(emulator, 'client-a'))).json();
    const userB = await (await api(emulator, '/api/v2/users/me', await tokenFor(emulator, 'client-b'))).json();

    expect(userA).toEqual({ id: expect.any(String), name: expect.stringContaining('client-a'), email: expect.stringMatching(/^client-a@org-a\./) });
    expect(userB).toMatchObject({ email: expect.stringMatching(/^client-b@org-b\./) });
    expect(userA).not.toEqual(userB);
  });

  it('pages users like queues', async () => {
    const emulator = await start({ userCount: 7 });
    const page = (await (await api(emulator, '/api/v2/users?pageSize=3&pageNumber=2', await tokenFor(emulator))).json()) as Record<string, unknown>;

    expect(page).toMatchObject({ pageSize: 3, pageNumber: 2, total: 7, pageCount: 3, nextUri: '/api/v2/users?pageNumber=3&pageSize=3' });
    expect(page.entities).toEqual([
      expect.objectContaining({ name: 'Emulated user 04', email: 'user04@emulated.example', selfUri: expect.stringMatching(/^\/api\/v2\/users\//) }),
      expect.objectContaining({ name: 'Emulated user 05' }),
      expect.objectContaining({ name: 'Emulated user 06' }),
    ]);
  });
});

describe("GenesysCloudEmulator: Genesys' per-token API rate limit", () => {
  it('answers 429 with Retry-After to the window end once a token has used its budget', async () => {
    const emulator = await start({ apiRateLimit: SMALL_LIMIT });
    const token = await tokenFor(emulator);

    expect(await statuses(emulator, 5, token)).toEqual([200, 200, 200, 200, 200]);
    const refused = await api(emulator, '/api/v2/organizations/me', token);

    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('3'); // 2.5 s window, rounded up
    expect(await refused.json()).toEqual({
      message: 'Rate limit exceeded the maximum. Retry the request in [3] seconds',
      code: 'too.many.requests.retry.after',
      status: 429,
    });
  });

  it('limits 300 requests per token per minute by default', async () => {
    const emulator = await start();
    const token = await tokenFor(emulator);

    const sent = await statuses(emulator, 301, token);

    expect(emulator.apiRateLimit).toEqual({ requestsPerToken: 300, windowMs: 60_000 });
    expect(sent.filter((status) => status === 200)).toHaveLength(300);
    expect(sent.at(-1)).toBe(429);
  });

  it('gives each token its own budget', async () => {
    const emulator = await start({ apiRateLimit: SMALL_LIMIT });
    await statuses(emulator, 6, await tokenFor(emulator));

    expect(await statuses(emulator, 5, await tokenFor(emulator))).toEqual([200, 200, 200, 200, 200]);
  });

  it('opens a new window once the old one has ended', async () => {
    // A window long enough that three requests in a row fall in one on a busy machine (a 300 ms one did not, once).
    const emulator = await start({ apiRateLimit: { requestsPerToken: 2, windowMs: 1_500 } });
    const token = await tokenFor(emulator);
    expect(await statuses(emulator, 3, token)).toEqual([200, 200, 429]);

    await sleep(1_600);

    expect(await statuses(emulator, 3, token)).toEqual([200, 200, 429]);
  });

  it('answers 401 before 429 for a bad or revoked token', async () => {
    const emulator = await start({ apiRateLimit: { requestsPerToken: 1, windowMs: 5_000 } });
    const token = await tokenFor(emulator);
    await statuses(emulator, 2, token);
    emulator.revokeAllTokens();

    expect(await statuses(emulator, 1, token)).toEqual([401]);
    expect(await statuses(emulator, 1, 'not-a-token')).toEqual([401]);
    expect(emulator.stats).toMatchObject({ unauthorized: 2, rateLimited: 1 });
  });

  it('counts 429s as requests seen but not as served', async () => {
    const emulator = await start({ apiRateLimit: SMALL_LIMIT });
    const token = await tokenFor(emulator);

    await statuses(emulator, 8, token);

    expect(emulator.stats).toMatchObject({ apiRequests: 8, rateLimited: 3, requestsByClient: { [emulator.clientId]: 5 } });
    expect(emulator.requestsPerToken().get(token)).toBe(5);
  });

  it('turns the API limit off with apiRateLimit: false', async () => {
    const emulator = await start({ apiRateLimit: false });

    const sent = await statuses(emulator, 310, await tokenFor(emulator));

    expect(emulator.apiRateLimit).toBe(false);
    expect(sent.every((status) => status === 200)).toBe(true);
  });

  it('applies an API limit set at run time, with a fresh window', async () => {
    const emulator = await start({ apiRateLimit: false });
    const token = await tokenFor(emulator);
    await statuses(emulator, 10, token);

    emulator.apiRateLimit = { requestsPerToken: 2 };

    expect(emulator.apiRateLimit).toEqual({ requestsPerToken: 2, windowMs: 60_000 });
    expect(await statuses(emulator, 3, token)).toEqual([200, 200, 429]);
    emulator.apiRateLimit = false;
    expect(await statuses(emulator, 1, token)).toEqual([200]);
  });
});

describe('GenesysCloudEmulator: token endpoint limit', () => {
  it("limits token requests per client with Genesys' 400 rate limit exceeded", async () => {
    const emulator = await start({ clients: CLIENTS, tokenRateLimit: { requests: 2, windowMs: 5_000 } });
    await tokenFor(emulator, 'client-a');
    await tokenFor(emulator, 'client-a');

    const refused = await requestToken(emulator, 'client-a');
    const otherClient = await requestToken(emulator, 'client-b');

    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      error: 'invalid_request',
      description: 'rate limit exceeded; try again later',
      error_description: 'rate limit exceeded; try again later',
    });
    expect(otherClient.status).toBe(200);
    expect(emulator.stats).toMatchObject({ tokenRateLimited: 1, tokensIssued: 3 });
  });

  it('does not limit token requests by default', async () => {
    const emulator = await start();
    for (let i = 0; i < 20; i++) await tokenFor(emulator);

    expect(emulator.tokenRateLimit).toBe(false);
    expect(emulator.stats.tokenRateLimited).toBe(0);
  });

  it('applies a token limit set at run time and lifts it when set to false', async () => {
    const emulator = await start();
    emulator.tokenRateLimit = { requests: 1, windowMs: 5_000 };
    await tokenFor(emulator);

    expect((await requestToken(emulator)).status).toBe(400);
    emulator.tokenRateLimit = false;
    expect((await requestToken(emulator)).status).toBe(200);
  });
});

describe('GenesysCloudEmulator: per-route 429s', () => {
  it('rate-limits only the injected route', async () => {
    const emulator = await start();
    const token = await tokenFor(emulator);

    emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 2 });
    const queues = await api(emulator, '/api/v2/routing/queues?pageSize=5', token);
    const org = await api(emulator, '/api/v2/organizations/me', token);

    expect(queues.status).toBe(429);
    expect(queues.headers.get('retry-after')).toBe('2');
    expect(await queues.json()).toMatchObject({ code: 'too.many.requests.retry.after', message: expect.stringContaining('[2]') });
    expect(org.status).toBe(200);
  });

  it('lifts a route limit after the given number of refusals', async () => {
    const emulator = await start();
    emulator.rateLimitRoute('GET /api/v2/routing/queues', { times: 2 });

    expect(await statuses(emulator, 3, await tokenFor(emulator), '/api/v2/routing/queues')).toEqual([429, 429, 200]);
  });

  it('lifts a route limit after its duration and sends the time left as Retry-After', async () => {
    const emulator = await start();
    const token = await tokenFor(emulator);
    emulator.rateLimitRoute('GET /api/v2/users', { durationMs: 300 });

    const during = await api(emulator, '/api/v2/users', token);
    await sleep(350);
    const after = await api(emulator, '/api/v2/users', token);

    expect(during.status).toBe(429);
    expect(during.headers.get('retry-after')).toBe('1');
    expect(after.status).toBe(200);
  });

  it('does not use up the token budget on route-limited requests', async () => {
    const emulator = await start({ apiRateLimit: SMALL_LIMIT });
    const token = await tokenFor(emulator);
    emulator.rateLimitRoute('GET /api/v2/routing/queues', { times: 10 });
    await statuses(emulator, 10, token, '/api/v2/routing/queues');

    expect(await statuses(emulator, 5, token)).toEqual([200, 200, 200, 200, 200]);
  });

  it('removes route limits with clearFaults', async () => {
    const emulator = await start();
    emulator.rateLimitRoute('GET /api/v2/routing/queues');
    emulator.clearFaults();

    expect(await statuses(emulator, 1, await tokenFor(emulator), '/api/v2/routing/queues')).toEqual([200]);
  });

  it('refuses an endpoint that is not "METHOD /path"', async () => {
    const emulator = await start();

    expect(() => emulator.rateLimitRoute('get /api/v2/users')).toThrow(/METHOD \/path/);
  });
});

describe('GenesysCloudEmulator: stats', () => {
  it('counts 429s from the per-token limit, route limits and rateLimitApi alike', async () => {
    const emulator = await start({ apiRateLimit: { requestsPerToken: 1, windowMs: 5_000 } });
    const token = await tokenFor(emulator);
    await statuses(emulator, 2, token); // 1 per-token 429
    emulator.rateLimitApi(1, 1);
    await statuses(emulator, 1, token); // 1 rateLimitApi 429
    emulator.rateLimitRoute('GET /api/v2/users', { times: 1 });
    await statuses(emulator, 1, token, '/api/v2/users'); // 1 route 429

    expect(emulator.stats.rateLimited).toBe(3);
  });

  it('counts as budgetExceeded only the 429s of the per-token limit', async () => {
    const emulator = await start({ apiRateLimit: { requestsPerToken: 1, windowMs: 5_000 } });
    const token = await tokenFor(emulator);
    emulator.rateLimitApi(1, 1);
    await statuses(emulator, 1, token); // injected
    emulator.rateLimitRoute('GET /api/v2/users', { times: 1 });
    await statuses(emulator, 1, token, '/api/v2/users'); // route limit
    await statuses(emulator, 2, token); // 1 served, 1 over the token's budget

    expect(emulator.stats).toMatchObject({ rateLimited: 3, budgetExceeded: 1 });
  });

  it('reports requests per token through a method, keeping tokens out of stats', async () => {
    const emulator = await start();
    const [first, second] = [await tokenFor(emulator), await tokenFor(emulator)];
    await statuses(emulator, 2, first);
    await statuses(emulator, 1, second);

    expect(emulator.requestsPerToken()).toEqual(new Map([[first, 2], [second, 1]]));
    expect(JSON.stringify(emulator.stats)).not.toContain(first);
  });

  it('resets every counter, per client and per token, with resetStats', async () => {
    const emulator = await start({ clients: CLIENTS, apiRateLimit: { requestsPerToken: 1, windowMs: 5_000 }, tokenRateLimit: { requests: 1, windowMs: 5_000 } });
    const token = await tokenFor(emulator, 'client-a');
    await requestToken(emulator, 'client-a');
    await statuses(emulator, 2, token);
    await api(emulator, '/api/v2/organizations/me', token, { 'x-emulator-expect-client': 'client-b' });

    emulator.resetStats();

    expect(emulator.stats).toEqual({
      tokenRequests: 0,
      apiRequests: 0,
      tokensIssued: 0,
      unauthorized: 0,
      rateLimited: 0,
      budgetExceeded: 0,
      tokenRateLimited: 0,
      clientMismatches: 0,
      requestsByClient: { 'client-a': 0, 'client-b': 0 },
    });
    expect(emulator.requestsPerToken().size).toBe(0);
  });
});

describe('GenesysCloudEmulator: latency', () => {
  it('answers every request after latencyMs, so that concurrent requests overlap', async () => {
    const emulator = await start({ latencyMs: 50 });
    const token = await tokenFor(emulator);
    const log: EmulatorExchange[] = [];
    emulator.onExchange((exchange) => log.push(exchange));

    await Promise.all([api(emulator, '/api/v2/users/me', token), api(emulator, '/api/v2/organizations/me', token)]);

    for (const exchange of log) expect(exchange.answeredAt - exchange.receivedAt).toBeGreaterThanOrEqual(49);
    expect(log[1].receivedAt).toBeLessThan(log[0].answeredAt);
  });

  it('has no latency by default, and takes a new one at run time', async () => {
    const emulator = await start();
    expect(emulator.latencyMs).toBe(0);
    const token = await tokenFor(emulator);
    emulator.latencyMs = 80;

    const sentAt = Date.now();
    await api(emulator, '/api/v2/users/me', token);

    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(79);
  });
});

describe('GenesysCloudEmulator: exchanges', () => {
  function logOf(emulator: GenesysCloudEmulator): EmulatorExchange[] {
    const log: EmulatorExchange[] = [];
    emulator.onExchange((exchange) => log.push(exchange));
    return log;
  }

  it('reports each request once answered: route, client, status, cause and when it arrived and was answered', async () => {
    const emulator = await start({ clients: CLIENTS });
    const log = logOf(emulator);
    const before = performance.timeOrigin + performance.now();
    const token = await tokenFor(emulator, 'client-b');
    await api(emulator, '/api/v2/users/me', token);
    await api(emulator, '/api/v2/users/me', 'unknown-token');

    expect(log.map(({ route, clientId, status, cause }) => ({ route, clientId, status, cause }))).toEqual([
      { route: 'token', clientId: 'client-b', status: 200, cause: 'served' },
      { route: 'api', clientId: 'client-b', status: 200, cause: 'served' },
      { route: 'api', clientId: undefined, status: 401, cause: 'unauthorized' },
    ]);
    expect(log[1].request).toMatchObject({ method: 'GET', path: '/api/v2/users/me', headers: { authorization: `Bearer ${token}` } });
    for (const exchange of log) expect(before).toBeLessThanOrEqual(exchange.receivedAt);
    for (const exchange of log) expect(exchange.receivedAt).toBeLessThanOrEqual(exchange.answeredAt);
    for (const [earlier, later] of log.slice(1).map((exchange, index) => [log[index], exchange])) expect(earlier.answeredAt).toBeLessThan(later.receivedAt);
  });

  it('names the client a token request claimed to be, also when its secret is wrong', async () => {
    const emulator = await start({ clients: CLIENTS });
    const log = logOf(emulator);
    await fetch(`${emulator.loginBaseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=client-a&client_secret=wrong',
    });

    expect(log).toMatchObject([{ route: 'token', clientId: 'client-a', status: 400, cause: 'refused' }]);
  });

  it('tells the per-token limit, route limits, injected 429s and the token-endpoint limit apart', async () => {
    const emulator = await start({ apiRateLimit: { requestsPerToken: 1, windowMs: 5_000 }, tokenRateLimit: { requests: 1, windowMs: 5_000 } });
    const token = await tokenFor(emulator);
    const log = logOf(emulator);
    await requestToken(emulator);
    emulator.rateLimitApi(2, 1);
    await statuses(emulator, 1, token);
    emulator.rateLimitRoute('GET /api/v2/users', { times: 1 });
    await statuses(emulator, 1, token, '/api/v2/users');
    await statuses(emulator, 2, token);

    expect(log.map(({ status, cause }) => `${status} ${cause}`)).toEqual([
      '400 token-rate-limit',
      '429 fault',
      '429 route-rate-limit',
      '200 served',
      '429 api-rate-limit',
    ]);
  });

  it('reports dropped and hanging connections as faults without a status, the hang as soon as it starts', async () => {
    const emulator = await start();
    const log = logOf(emulator);
    emulator.inject('api', { reset: true }, 1).inject('api', { hang: true }, 1);
    await api(emulator, '/api/v2/organizations/me').catch(() => undefined);
    await fetch(`${emulator.apiBaseUrl}/api/v2/organizations/me`, { signal: AbortSignal.timeout(200) }).catch(() => undefined);

    expect(log).toMatchObject([
      { route: 'api', dropped: 'reset', cause: 'fault' },
      { route: 'api', dropped: 'hang', cause: 'fault' },
    ]);
    expect(log.map((exchange) => exchange.status)).toEqual([undefined, undefined]);
  });

  it('stops reporting to a listener that unsubscribed, and answers whatever a listener throws', async () => {
    const emulator = await start();
    const log: EmulatorExchange[] = [];
    const stop = emulator.onExchange((exchange) => log.push(exchange));
    emulator.onExchange(() => {
      throw new Error('a broken listener');
    });
    const warnings: unknown[] = [];
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation((warning) => void warnings.push(warning));
    try {
      const token = await tokenFor(emulator);
      stop();
      expect(await statuses(emulator, 1, token)).toEqual([200]);
    } finally {
      warn.mockRestore();
    }

    expect(log.map((exchange) => exchange.route)).toEqual(['token']);
    expect(warnings).toEqual([expect.stringContaining('a broken listener'), expect.stringContaining('a broken listener')]);
  });
});

describe('FixedWindowLimiter', () => {
  it('keeps memory bounded over 20 000 tokens', () => {
    const limiter = new FixedWindowLimiter<string>(5, 100);
    let largest = 0;
    // One new token a millisecond, each used a few times: only the last ~2 windows' tokens are kept.
    for (let now = 0; now < 20_000; now++) {
      for (let use = 0; use < 3; use++) limiter.take(`token-${now}`, now);
      largest = Math.max(largest, limiter.size);
    }

    expect(largest).toBeLessThanOrEqual(200);
  });

  it('refuses a negative limit or an empty window', () => {
    expect(() => new FixedWindowLimiter(-1, 100)).toThrow(RangeError);
    expect(() => new FixedWindowLimiter(1, 0)).toThrow(RangeError);
  });
});

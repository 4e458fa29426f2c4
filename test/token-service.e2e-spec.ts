import { afterEach, describe, expect, it } from '@jest/globals';
import { GenesysAuthError, GenesysTokenService } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';

describe('GenesysTokenService against the emulator', () => {
  let running: EmulatedApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  async function tokenServiceWith(...args: Parameters<typeof startEmulatedApp>): Promise<GenesysTokenService> {
    running = await startEmulatedApp(...args);
    return running.app.get(GenesysTokenService);
  }

  it('fetches a token with Basic client credentials and a client_credentials form', async () => {
    const tokens = await tokenServiceWith();
    const token = await tokens.getToken();

    expect(token.accessToken).toBe(running!.emulator.lastIssuedToken);
    const [request] = running!.emulator.tokenRequests;
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from('emulator-client-id:emulator-client-secret').toString('base64')}`);
    expect(new URLSearchParams(request.body).get('grant_type')).toBe('client_credentials');
  });

  it('sends the credentials in the form when clientAuthentication is "body"', async () => {
    const tokens = await tokenServiceWith({ clientAuthentication: 'body' });
    await tokens.getToken();

    const [request] = running!.emulator.tokenRequests;
    expect(request.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'emulator-client-id',
      client_secret: 'emulator-client-secret',
    });
  });

  it('asks for the configured scopes as one space-separated scope', async () => {
    const tokens = await tokenServiceWith({ scopes: ['routing:readonly', 'users:readonly'] });
    await tokens.getToken();

    expect(new URLSearchParams(running!.emulator.tokenRequests[0].body).get('scope')).toBe('routing:readonly users:readonly');
  });

  it('dates the token from expires_in', async () => {
    const tokens = await tokenServiceWith({}, { tokenLifetimeSeconds: 600 });
    const before = Date.now();
    const token = await tokens.getToken();

    expect(token.expiresAt.getTime() - before).toBeGreaterThanOrEqual(599_000);
    expect(token.expiresAt.getTime() - before).toBeLessThanOrEqual(601_000);
  });

  it('shares one token request among 1000 concurrent cold callers', async () => {
    const tokens = await tokenServiceWith();
    const results = await Promise.all(Array.from({ length: 1000 }, () => tokens.getAccessToken()));

    expect(new Set(results).size).toBe(1);
    expect(running!.emulator.stats.tokenRequests).toBe(1);
  });

  it('refreshes a short-lived token on its own before it expires', async () => {
    const tokens = await tokenServiceWith({}, { tokenLifetimeSeconds: 2 });
    const first = await tokens.getAccessToken();

    await sleep(1_750); // refresh due at 1.5-1.6 s; the token is usable until 1.8 s

    expect(running!.emulator.stats.tokensIssued).toBe(2);
    const second = await tokens.getAccessToken();
    expect(second).not.toBe(first);
    expect(running!.emulator.stats.tokenRequests).toBe(2);
  });

  it('keeps serving the held token through a login outage and recovers when it ends', async () => {
    const tokens = await tokenServiceWith({}, { tokenLifetimeSeconds: 2 });
    const first = await tokens.getAccessToken();
    running!.emulator.inject('token', { status: 503, body: 'Service Unavailable' });

    await sleep(1_650);
    expect(tokens.getState()).toMatchObject({ status: expect.stringMatching(/failing|refreshing/), hasValidToken: true });
    expect(await tokens.getAccessToken()).toBe(first);

    running!.emulator.clearFaults();
    await sleep(500);
    expect(tokens.getState()).toMatchObject({ status: 'valid', consecutiveFailures: 0 });
    expect(await tokens.getAccessToken()).not.toBe(first);
  });

  it('throws a typed invalid_client error for a bad secret without retrying', async () => {
    const tokens = await tokenServiceWith({ clientSecret: 'wrong-secret-value' });
    const error = await tokens.getToken().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GenesysAuthError);
    expect(error).toMatchObject({ code: 'invalid_client', status: 400, genesysError: 'invalid_client', retryable: false });
    await sleep(300);
    expect(running!.emulator.stats.tokenRequests).toBe(1);
  });

  it("treats Genesys' 400 \"rate limit exceeded;\" as a rate limit and retries it", async () => {
    const tokens = await tokenServiceWith();
    running!.emulator.inject(
      'token',
      { status: 400, body: { error: 'invalid_request', description: 'rate limit exceeded; try later', error_description: 'rate limit exceeded; try later' } },
      1,
    );

    const token = await tokens.getAccessToken();

    expect(token).toBe(running!.emulator.lastIssuedToken);
    expect(running!.emulator.stats.tokenRequests).toBe(2);
  });

  it('honours Retry-After on a 429 from the token endpoint', async () => {
    const tokens = await tokenServiceWith({ retry: { initialDelayMs: 20, maxDelayMs: 1_000 } });
    running!.emulator.inject('token', { status: 429, headers: { 'Retry-After': '0.3' } }, 1);
    const started = Date.now();

    await tokens.getAccessToken();

    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(running!.emulator.stats.tokenRequests).toBe(2);
  });

  it.each([
    ['an HTML page', { status: 200, body: '<html>gateway</html>', headers: { 'Content-Type': 'text/html' } }],
    ['an empty object', { status: 200, body: {} }],
    ['an empty access_token', { status: 200, body: { access_token: '', token_type: 'bearer', expires_in: 60 } }],
    ['a non-numeric expires_in', { status: 200, body: { access_token: 'abc', token_type: 'bearer', expires_in: 'soon' } }],
    ['a negative expires_in', { status: 200, body: { access_token: 'abc', token_type: 'bearer', expires_in: -5 } }],
    ['a zero expires_in', { status: 200, body: { access_token: 'abc', token_type: 'bearer', expires_in: 0 } }],
    ['a token with a line break', { status: 200, body: { access_token: 'abc\r\nX-Evil: 1', token_type: 'bearer', expires_in: 60 } }],
    ['another token type', { status: 200, body: { access_token: 'abc', token_type: 'mac', expires_in: 60 } }],
    ['a JSON array', { status: 200, body: '[1,2]' }],
  ])('turns %s into a bad_response error', async (_, fault) => {
    const tokens = await tokenServiceWith({ retry: { maxAttempts: 1 } });
    running!.emulator.inject('token', fault);

    await expect(tokens.getToken()).rejects.toMatchObject({ name: 'GenesysAuthError', code: 'bad_response' });
  });

  it('accepts expires_in as a decimal string and clamps huge lifetimes to 48 hours from the request', async () => {
    const tokens = await tokenServiceWith();
    running!.emulator.inject('token', { status: 200, body: { access_token: 'abc', token_type: 'bearer', expires_in: '1000000000000' } }, 1);
    const requestedAt = Date.now();
    const token = await tokens.getToken();

    expect(token.expiresAt.getTime() - requestedAt).toBeGreaterThanOrEqual(172_800_000);
    expect(token.expiresAt.getTime() - requestedAt).toBeLessThanOrEqual(172_800_000 + (token.obtainedAt.getTime() - requestedAt));
  });

  it.each([['hexadecimal', '0x10'], ['an exponent', '1e3'], ['blanks around it', ' 3600 ']])(
    'refuses expires_in written as %s as a bad response',
    async (_, expiresIn) => {
      const tokens = await tokenServiceWith({ retry: { maxAttempts: 1 } });
      running!.emulator.inject('token', { status: 200, body: { access_token: 'abc', token_type: 'bearer', expires_in: expiresIn } }, 1);

      await expect(tokens.getToken()).rejects.toMatchObject({ code: 'bad_response', message: expect.stringContaining('expires_in') });
    },
  );

  it.each([
    ['a 404', { status: 404, body: 'Not Found' }],
    ['a redirect', { status: 302, headers: { Location: 'https://elsewhere.test/' } }],
    ['another OAuth error', { status: 400, body: { error: 'unsupported_grant_type', error_description: 'no' } }],
  ])('treats %s from the token endpoint as a non-retryable rejection', async (_, fault) => {
    const tokens = await tokenServiceWith();
    running!.emulator.inject('token', fault);

    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'rejected', retryable: false });
    expect(running!.emulator.stats.tokenRequests).toBe(1);
  });

  it('reports a dropped connection as unavailable', async () => {
    const tokens = await tokenServiceWith({ retry: { maxAttempts: 1 } });
    running!.emulator.inject('token', { reset: true });

    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('reports a token endpoint that does not answer as a timeout', async () => {
    const tokens = await tokenServiceWith({ retry: { maxAttempts: 1 }, tokenRequestTimeoutMs: 200 });
    running!.emulator.inject('token', { hang: true });

    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'timeout' });
  });

  it('gives callers a shutdown error at once when the app closes during a token request', async () => {
    const tokens = await tokenServiceWith();
    running!.emulator.inject('token', { hang: true });
    const waiting = tokens.getToken().catch((error: unknown) => error);
    await sleep(50);
    const started = Date.now();

    await running!.app.close();

    expect(await waiting).toMatchObject({ code: 'shutdown' });
    expect(Date.now() - started).toBeLessThan(500);
  });
});

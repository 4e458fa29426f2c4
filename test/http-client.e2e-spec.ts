import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import axios, { AxiosError } from 'axios';
import { firstValueFrom } from 'rxjs';
import { GenesysAuthInterceptor, GenesysHttpService } from 'nestjs-genesys-auth';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';
import { startRecordingServer, type RecordingServer } from './support/recording-server.js';

/** Every string reachable through enumerable properties: what generic log serializers walk. */
function enumerableStrings(root: unknown): string[] {
  const seen = new Set<object>();
  const found: string[] = [];
  const walk = (value: unknown, depth: number): void => {
    if (typeof value === 'string') found.push(value);
    if (typeof value !== 'object' || value === null || seen.has(value) || depth > 14) return;
    seen.add(value);
    for (const key of Object.keys(value)) walk((value as Record<string, unknown>)[key], depth + 1);
  };
  walk(root, 0);
  return found;
}

describe('GenesysHttpService against the emulator', () => {
  let running: EmulatedApp;
  let foreign: RecordingServer;
  let genesys: GenesysHttpService;

  beforeEach(async () => {
    // Tokens here are milliseconds old: renewal bounding (unauthorizedRenewalIntervalMs) has tests of its own.
    running = await startEmulatedApp({ rateLimitRetry: { maxRetries: 2, maxDelayMs: 1_000 }, unauthorizedRenewalIntervalMs: 0 });
    foreign = await startRecordingServer();
    genesys = running.app.get(GenesysHttpService);
  });
  afterEach(async () => {
    await running.close();
    await foreign.close();
  });

  const rejectionOf = (request: Promise<unknown>) =>
    request.then(
      () => {
        throw new Error('expected the request to fail');
      },
      (error: unknown) => error as AxiosError,
    );

  it('signs API calls with the current token (Promise style)', async () => {
    const { data } = await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(data).toMatchObject({ name: 'Emulated Org' });
    expect(running.emulator.apiRequests[0].headers.authorization).toBe(`Bearer ${running.emulator.lastIssuedToken}`);
  });

  it('signs API calls with the current token (Observable style)', async () => {
    const { data } = await firstValueFrom(genesys.get('/api/v2/routing/queues', { params: { pageSize: 5 } }));

    expect(data).toMatchObject({ pageSize: 5, total: 30 });
    expect(data.entities).toHaveLength(5);
  });

  it("copies none of axios' inert defaults into a request (browser-only XSRF, -1 sizes), so axios walks fewer keys", async () => {
    const { config } = await genesys.axiosRef.get('/api/v2/organizations/me');

    const keys = Object.keys(config);
    for (const inert of ['xsrfCookieName', 'xsrfHeaderName', 'maxContentLength', 'maxBodyLength']) expect(keys).not.toContain(inert);
  });

  it("keeps a size limit the application set on axios' defaults", async () => {
    const before = axios.defaults.maxContentLength;
    axios.defaults.maxContentLength = 1_000;
    const limited = await startEmulatedApp().finally(() => (axios.defaults.maxContentLength = before));
    try {
      const failure = await rejectionOf(limited.app.get(GenesysHttpService).axiosRef.get('/api/v2/routing/queues', { params: { pageSize: 100 } }));

      expect(failure.message).toMatch(/maxContentLength size of 1000 exceeded/);
    } finally {
      await limited.close();
    }
  });

  it('sends no token to another host, whatever the URL trick', async () => {
    const foreignPort = new URL(foreign.url).port;
    const emulatorPort = new URL(running.emulator.url).port;
    const urls = [
      `${foreign.url}/api/v2/organizations/me`,
      `http://127.0.0.1:${emulatorPort}@127.0.0.1:${foreignPort}/api/v2/organizations/me`,
      `http://api.mypurecloud.com@127.0.0.1:${foreignPort}/`,
    ];
    for (const url of urls) await genesys.axiosRef.get(url);

    expect(foreign.received).toHaveLength(urls.length);
    for (const headers of foreign.received) expect(headers.authorization ?? '').not.toMatch(/bearer/i);
    expect(running.emulator.stats.tokenRequests).toBe(0);
  });

  it('sends no token to the same port under another host name', async () => {
    const localhostUrl = running.emulator.url.replace('127.0.0.1', 'localhost');
    const error = await rejectionOf(genesys.axiosRef.get(`${localhostUrl}/api/v2/organizations/me`));

    expect(error.response?.status).toBe(401);
    expect(running.emulator.apiRequests[0].headers.authorization).toBeUndefined();
  });

  it('drops the token when the API redirects to another origin', async () => {
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/elsewhere` } }, 1);

    await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(running.emulator.apiRequests[0].headers.authorization).toMatch(/^Bearer /);
    expect(foreign.received).toHaveLength(1);
    expect(foreign.received[0].authorization).toBeUndefined();
  });

  it("leaves a caller's own Authorization header alone", async () => {
    await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me', { headers: { Authorization: 'Bearer callers-own' } }));

    expect(running.emulator.apiRequests).toHaveLength(1);
    expect(running.emulator.apiRequests[0].headers.authorization).toBe('Bearer callers-own');
    expect(running.emulator.stats.tokenRequests).toBe(0);
  });

  it("leaves a caller's own Authorization header alone whatever its case", async () => {
    await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me', { headers: { aUTHORIZATION: 'Bearer callers-own' } }));

    expect(running.emulator.apiRequests).toHaveLength(1);
    expect(running.emulator.apiRequests[0].headers.authorization).toBe('Bearer callers-own');
    expect(running.emulator.stats.tokenRequests).toBe(0);
  });

  it('renews a revoked token once for 200 concurrent callers, who see no 401', async () => {
    await genesys.axiosRef.get('/api/v2/organizations/me');
    running.emulator.revokeAllTokens();

    const results = await Promise.allSettled(Array.from({ length: 200 }, () => genesys.axiosRef.get('/api/v2/routing/queues')));

    expect(results.filter((result) => result.status === 'rejected')).toHaveLength(0);
    expect(running.emulator.stats.tokenRequests).toBe(2);
  });

  it('retries a 401 once only and then hands the 401 to the caller', async () => {
    running.emulator.inject('api', { status: 401, body: { message: 'no', code: 'bad.credentials', status: 401 } });

    const error = await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me'));

    expect(error).toBeInstanceOf(AxiosError);
    expect(error.response?.status).toBe(401);
    expect(running.emulator.stats.apiRequests).toBe(2);
    expect(running.emulator.stats.tokenRequests).toBe(2);
  });

  it('does not replay a stream body after a 401, and says why', async () => {
    running.emulator.inject('api', { status: 401 }, 1);

    const error = await rejectionOf(genesys.axiosRef.post('/api/v2/organizations/me', Readable.from(['{"a":1}'])));

    expect(error.response?.status).toBe(401);
    expect(error.message).toContain('stream');
    expect(running.emulator.stats.apiRequests).toBe(1);
  });

  it('waits for Retry-After and retries a 429', async () => {
    running.emulator.rateLimitApi(0.2, 1);
    const started = Date.now();

    const { status } = await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(running.emulator.stats.apiRequests).toBe(2);
  });

  it('gives up on 429 after rateLimitRetry.maxRetries retries', async () => {
    running.emulator.rateLimitApi(0, 10);

    const error = await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me'));

    expect(error.response?.status).toBe(429);
    expect(running.emulator.stats.apiRequests).toBe(3);
  });

  it('hands a 429 straight back when Retry-After is longer than rateLimitRetry.maxDelayMs', async () => {
    running.emulator.rateLimitApi(42, 1);

    const error = await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me'));

    expect(error.response?.status).toBe(429);
    expect(error.response?.headers['retry-after']).toBe('42');
    expect(running.emulator.stats.apiRequests).toBe(1);
  });

  it('keeps the token out of the AxiosError handed to callers', async () => {
    running.emulator.inject('api', { status: 500, body: { message: 'boom' } });

    const error = await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me'));
    const token = running.emulator.lastIssuedToken!;

    expect(error).toBeInstanceOf(AxiosError);
    expect(error.response?.status).toBe(500);
    expect(JSON.stringify(error)).not.toContain(token);
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(token);
    expect(JSON.stringify(error.toJSON())).toContain('[REDACTED]');
  });

  it('keeps the token out of the AxiosError even where its sockets reach other requests', async () => {
    // Pooled keep-alive sockets still reference the last request each carried, with its headers.
    await Promise.all(Array.from({ length: 20 }, () => genesys.axiosRef.get('/api/v2/organizations/me')));
    running.emulator.inject('api', { status: 500 }, 1);

    const error = await rejectionOf(genesys.axiosRef.get('/api/v2/organizations/me'));
    const token = running.emulator.lastIssuedToken!;

    expect(JSON.stringify(error)).not.toContain(token);
    expect(inspect(error, { depth: 12, showHidden: true })).not.toContain(token);
    expect(inspect({ wrapped: error }, { depth: 12 })).not.toContain(token);
    expect(enumerableStrings(error).filter((text) => text.includes(token))).toEqual([]);
  });

  it('signs an axios instance of your own once, however often it is attached', async () => {
    const own = axios.create({ baseURL: running.emulator.url });
    const interceptor = running.app.get(GenesysAuthInterceptor);
    interceptor.attachTo(own);
    interceptor.attachTo(own);
    running.emulator.inject('api', { status: 401 });

    await rejectionOf(own.get('/api/v2/organizations/me'));

    expect(running.emulator.apiRequests[0].headers.authorization).toMatch(/^Bearer [^,]+$/);
    expect(running.emulator.stats.apiRequests).toBe(2);
  });
});

import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import axios, { isAxiosError } from 'axios';
import { GenesysAuthInterceptor, GenesysHttpService } from 'nestjs-genesys-auth';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';
import { startLoopbackServer, type LoopbackServer } from './support/loopback-server.js';
import { LoopStalls } from './support/loop-stalls.js';

/** Bounds on a wait are checked on the time the process could run: a stall of the whole process holds up every timer alike. */
const stalls = new LoopStalls();
afterAll(() => stalls.stop());

describe('the interceptor, phase by phase', () => {
  let running: EmulatedApp | undefined;
  let server: LoopbackServer | undefined;

  afterEach(async () => {
    await running?.close();
    await server?.close();
    running = server = undefined;
  });

  it('keeps the deadline on a request to another origin, which it does not sign', async () => {
    let authorization: string | undefined;
    server = await startLoopbackServer((request, response) => {
      authorization = request.headers.authorization;
      response.writeHead(200, { 'Content-Type': 'application/json' });
      const drip = setInterval(() => response.write(' '), 100);
      response.on('close', () => clearInterval(drip));
    });
    running = await startEmulatedApp({ apiRequestTimeoutMs: 500 });
    const started = Date.now();

    const error = await running.app.get(GenesysHttpService).axiosRef.get(`${server.url}/elsewhere`).catch((e: unknown) => e);

    expect(isAxiosError(error) && error.code).toBe('ECONNABORTED');
    expect(stalls.elapsedRunning(started)).toBeLessThan(1_500);
    expect(authorization).toBeUndefined();
  });

  it('signs a request on an instance of your own that had to wait for the token, in its adapter, once', async () => {
    running = await startEmulatedApp({ rateLimit: false });
    const own = axios.create({ baseURL: running.emulator.url });
    running.app.get(GenesysAuthInterceptor).attachTo(own);
    running.emulator.inject('api', { status: 401 }, 1);

    // No token is held yet: the first request waits for one, the 401 renews it and the replay is signed anew.
    const response = await own.get('/api/v2/organizations/me');

    expect(response.status).toBe(200);
    expect(running.emulator.stats.apiRequests).toBe(2);
    expect(running.emulator.apiRequests.map((request) => request.headers.authorization)).toEqual([
      expect.stringMatching(/^Bearer [^,]+$/),
      expect.stringMatching(/^Bearer [^,]+$/),
    ]);
  });

  it('shows no token of the request state in an error, however it is serialised', async () => {
    running = await startEmulatedApp();
    running.emulator.inject('api', { status: 500 }, 1);

    const error = await running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me').catch((e: unknown) => e);
    const token = running.emulator.lastIssuedToken!;

    expect(isAxiosError(error)).toBe(true);
    const state = (error as { config: { genesys?: object } }).config.genesys;
    expect(state).toBeDefined();
    expect(JSON.stringify(state)).toBe('{}');
    expect(Object.values(state!).filter((value) => typeof value === 'string' && value.includes(token))).toEqual([]);
  });
});

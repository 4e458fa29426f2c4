import { spawn, type ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGzip } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import axios, { isAxiosError } from 'axios';
import { GenesysAuthInterceptor, GenesysHttpService, GenesysTokenService, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { startLoopbackServer, type LoopbackServer } from './support/loopback-server.js';
import { LoopStalls } from './support/loop-stalls.js';

/** Bounds on a wait are checked on the time the process could run: a stall of the whole process holds up every timer alike. */
const stalls = new LoopStalls();
afterAll(() => stalls.stop());

/** Sends status and headers at once, then one byte every `everyMs`, for ever: axios' `timeout` alone never fires. */
const trickle = (everyMs: number) =>
  startLoopbackServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    const drip = setInterval(() => response.write(' '), everyMs);
    response.on('close', () => clearInterval(drip));
  });

/** Gzip of `megabytes` MiB of zeros, built a chunk at a time so that building it costs no memory. */
async function gzipOfZeros(megabytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < megabytes; written++) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  await new Promise((resolve) => gzip.end(resolve));
  return Buffer.concat(chunks);
}

/** Highest RSS seen while `work` runs, less the RSS before it, in MiB. */
async function peakRssGrowthMiB(work: () => Promise<unknown>): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return (Math.max(peak, process.memoryUsage().rss) - before) / 2 ** 20;
}

/**
 * An API in a `node` process of its own, so that it closes idle sockets on time while this process stalls:
 * it announces `Keep-Alive: timeout=N` and closes an idle socket N s after its last answer.
 */
async function serverInAnotherProcess(keepAliveMs: number): Promise<{ url: string; process: ChildProcess }> {
  const script = `
    const headers = { 'Content-Type': 'application/json', 'Keep-Alive': 'timeout=${keepAliveMs / 1000}' };
    const server = require('node:http').createServer((request, response) => response.writeHead(200, headers).end('{}'));
    server.keepAliveTimeout = ${keepAliveMs} - 1000; // Node closes idle sockets a second after its keepAliveTimeout
    server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
  `;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const found = /port (\d+)/.exec(chunk.toString());
      if (found) resolve(found[1]);
    });
    child.once('exit', () => reject(new Error('the API process exited')));
  });
  return { url: `http://127.0.0.1:${port}`, process: child };
}

describe('deadlines and size limits', () => {
  let running: EmulatedApp | undefined;
  let server: LoopbackServer | undefined;
  afterEach(async () => {
    await running?.close();
    await server?.close();
    running = server = undefined;
  });

  const start = (options: Partial<GenesysAuthModuleOptions>) => startEmulatedApp({ retry: { maxAttempts: 1 }, ...options });

  describe('tokenRequestTimeoutMs', () => {
    it('bounds the whole exchange when the token endpoint trickles its body', async () => {
      server = await trickle(100);
      running = await start({ loginBaseUrl: server.url, tokenRequestTimeoutMs: 500 });
      const started = Date.now();

      const error = await running.app.get(GenesysTokenService).getToken().catch((e: unknown) => e);

      expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'timeout', message: expect.stringContaining('no complete answer within 500 ms') });
      expect(stalls.elapsedRunning(started)).toBeLessThan(1_000);
    });
  });

  describe('apiRequestTimeoutMs', () => {
    /** `GenesysHttpService.axiosRef` of an app whose API trickles its body, with a token already held (token time is not API time). */
    const apiTrickling = async (apiRequestTimeoutMs: number) => {
      server = await trickle(100);
      running = await start({ apiBaseUrl: server.url, apiRequestTimeoutMs });
      await running.app.get(GenesysTokenService).getToken();
      return running.app.get(GenesysHttpService).axiosRef;
    };

    it('bounds the whole exchange when the API trickles its body', async () => {
      const api = await apiTrickling(500);
      const started = Date.now();

      const error = await api.get('/api/v2/organizations/me').catch((e: unknown) => e);

      expect(isAxiosError(error) && error.code).toBe('ECONNABORTED');
      expect(isAxiosError(error) && error.message).toContain('timeout of 500ms exceeded');
      expect(stalls.elapsedRunning(started)).toBeLessThan(1_000);
    });

    it('keeps many concurrent requests on one deadline without a MaxListenersExceededWarning', async () => {
      running = await start({ apiRequestTimeoutMs: 5_000 });
      running.emulator.apiRateLimit = false;
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(warning.name);
      process.on('warning', onWarning);
      try {
        await Promise.all(Array.from({ length: 100 }, () => running!.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me')));
        await sleep(10); // warnings are emitted on the next tick
      } finally {
        process.off('warning', onWarning);
      }

      expect(warnings).not.toContain('MaxListenersExceededWarning');
    });

    it('holds one listener on a caller signal shared by many requests, sent or waiting for budget', async () => {
      running = await start({ apiRequestTimeoutMs: 5_000, rateLimit: { requestsPerToken: 50, windowMs: 300 } });
      running.emulator.apiRateLimit = false;
      const shared = new AbortController().signal; // e.g. one signal for a whole batch job
      let mostListeners = 0;
      const sampler = setInterval(() => (mostListeners = Math.max(mostListeners, getEventListeners(shared, 'abort').length)), 1);
      try {
        const genesys = running.app.get(GenesysHttpService);
        await Promise.all(Array.from({ length: 100 }, () => genesys.axiosRef.get('/api/v2/organizations/me', { signal: shared })));
      } finally {
        clearInterval(sampler);
      }

      expect(mostListeners).toBe(1);
      expect(getEventListeners(shared, 'abort')).toHaveLength(0);
    });

    it("keeps the caller's own abort signal working beside the deadline", async () => {
      const api = await apiTrickling(5_000);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();

      const error = await api.get('/', { signal: controller.signal }).catch((e: unknown) => e);

      expect(axios.isCancel(error)).toBe(true);
      expect(stalls.elapsedRunning(started)).toBeLessThan(1_000);
    });

    it('reads a per-request timeout given as a numeric string, as axios does', async () => {
      const api = await apiTrickling(5_000);
      const started = Date.now();

      const error = await api.get('/', { timeout: '300' as unknown as number }).catch((e: unknown) => e);

      expect(isAxiosError(error) && error.message).toContain('timeout of 300ms exceeded');
      expect(stalls.elapsedRunning(started)).toBeLessThan(1_000);
    });

    it("words and codes the timeout as axios' timeoutErrorMessage and transitional.clarifyTimeoutError ask", async () => {
      const api = await apiTrickling(300);

      const error = await api
        .get('/', { timeoutErrorMessage: 'Genesys took too long', transitional: { clarifyTimeoutError: true } })
        .catch((e: unknown) => e);

      expect(isAxiosError(error) && { code: error.code, message: error.message }).toEqual({ code: 'ETIMEDOUT', message: 'Genesys took too long' });
    });

    it("bounds a streamed body too, when the caller passed a signal of their own", async () => {
      const api = await apiTrickling(500);
      const started = Date.now();

      const response = await api.get<NodeJS.ReadableStream>('/', { responseType: 'stream', signal: new AbortController().signal });
      await new Promise<void>((resolve) => {
        response.data.on('data', () => undefined);
        response.data.once('error', () => resolve());
        response.data.once('end', () => resolve());
      });

      expect(stalls.elapsedRunning(started)).toBeLessThan(1_000);
    });

    it('lets a per-request timeout override the deadline', async () => {
      const api = await apiTrickling(5_000);
      const started = Date.now();

      const error = await api.get('/', { timeout: 300 }).catch((e: unknown) => e);

      expect(isAxiosError(error) && error.message).toContain('timeout of 300ms exceeded');
      expect(stalls.elapsedRunning(started)).toBeLessThan(1_000);
    });
  });

  describe('apiRequestTimeoutMs and 429s', () => {
    it('bounds each attempt, not the Retry-After wait between them: a wait longer than the deadline ends in a replay', async () => {
      running = await start({ apiRequestTimeoutMs: 500 });
      running.emulator.rateLimitRoute('GET /api/v2/organizations/me', { retryAfterSeconds: 1, times: 1 });
      const started = Date.now();

      const response = await running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me');

      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    });

    it('gives the replay a deadline of its own', async () => {
      let requests = 0;
      server = await startLoopbackServer((_request, response) => {
        if (++requests === 1) return void response.writeHead(429, { 'Retry-After': '1' }).end();
        response.writeHead(200, { 'Content-Type': 'application/json' });
        const drip = setInterval(() => response.write(' '), 100);
        response.on('close', () => clearInterval(drip));
      });
      running = await start({ apiBaseUrl: server.url, apiRequestTimeoutMs: 500 });
      await running.app.get(GenesysTokenService).getToken();
      const started = Date.now();

      const error = await running.app.get(GenesysHttpService).axiosRef.get('/').catch((e: unknown) => e);

      expect(isAxiosError(error) && error.message).toContain('timeout of 500ms exceeded');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      expect(stalls.elapsedRunning(started)).toBeLessThan(2_500);
    });
  });

  describe('kept-alive sockets', () => {
    /**
     * Sends three requests on one registration, sleeping `idleMs` before the third; returns the connections
     * the server saw. The server keeps idle sockets `serverKeepAliveMs` (and says so in `Keep-Alive: timeout=…`,
     * or says `keepAliveHeader`).
     */
    async function connectionsWithPause(idleMs: number, serverKeepAliveMs = 60_000, keepAliveHeader?: string): Promise<number> {
      const headers = { 'Content-Type': 'application/json', ...(keepAliveHeader && { 'Keep-Alive': keepAliveHeader }) };
      const api = createServer((_request, response) => response.writeHead(200, headers).end('{}'));
      api.keepAliveTimeout = serverKeepAliveMs;
      let connections = 0;
      api.on('connection', () => connections++);
      await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
      try {
        running = await start({ apiBaseUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
        const genesys = running.app.get(GenesysHttpService);
        await genesys.axiosRef.get('/one');
        await genesys.axiosRef.get('/two'); // reuses the socket

        await sleep(idleMs);
        await genesys.axiosRef.get('/three');
        return connections;
      } finally {
        api.closeAllConnections();
        await new Promise((resolve) => api.close(resolve));
      }
    }

    it('are closed after 4 s idle, before a server closing them at its usual 5 s could reset a request reusing one', async () => {
      expect(await connectionsWithPause(4_500)).toBe(2);
    }, 15_000);

    it('are reused after 2.5 s idle', async () => {
      expect(await connectionsWithPause(2_500)).toBe(1);
    }, 15_000);

    it('are closed a second before the idle timeout a server announces, when that is sooner', async () => {
      // The server announces timeout=2 and would close at 2 s: at 1.2 s only the library can have closed it.
      expect(await connectionsWithPause(1_200, 2_000)).toBe(2);
    }, 15_000);

    it('are closed a second before the idle timeout a server announces among other Keep-Alive parameters', async () => {
      expect(await connectionsWithPause(1_200, 60_000, 'max=100, Timeout = 2')).toBe(2);
    }, 15_000);

    it("are not handed to a request after an event-loop stall held up their sweep past the server's idle timeout", async () => {
      const api = await serverInAnotherProcess(2_000);
      try {
        running = await start({ apiBaseUrl: api.url });
        const genesys = running.app.get(GenesysHttpService);
        await Promise.all(Array.from({ length: 6 }, () => genesys.axiosRef.get('/warm')));
        await sleep(300);

        const burst = await new Promise<PromiseSettledResult<unknown>[]>((resolve) =>
          setTimeout(() => {
            const stallEnds = Date.now() + 2_000; // a handler computing for 2 s, then calling the API
            while (Date.now() < stallEnds);
            resolve(Promise.allSettled(Array.from({ length: 6 }, () => genesys.axiosRef.get('/burst'))));
          }, 0),
        );

        expect(burst.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
      } finally {
        api.process.kill();
      }
    }, 15_000);
  });

  describe("the caller's abort signal", () => {
    it('ends the wait for a token at once, with axios\' cancellation', async () => {
      running = await start({ tokenRequestTimeoutMs: 5_000 });
      running.emulator.inject('token', { hang: true });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = Date.now();

      const error = await running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me', { signal: controller.signal }).catch((e: unknown) => e);

      expect(axios.isCancel(error)).toBe(true);
      expect(stalls.elapsedRunning(started)).toBeLessThan(500);
    });

    it('ends a wait for Retry-After after a 429 at once, with axios\' cancellation', async () => {
      running = await start({});
      running.emulator.rateLimitApi(30, 1);
      const started = Date.now();

      const error = await running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me', { signal: AbortSignal.timeout(200) }).catch((e: unknown) => e);

      expect(axios.isCancel(error)).toBe(true);
      expect(stalls.elapsedRunning(started)).toBeLessThan(600);
    });

    it('already aborted: no token is fetched and nothing is sent', async () => {
      running = await start({});

      const error = await running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me', { signal: AbortSignal.abort() }).catch((e: unknown) => e);

      expect(axios.isCancel(error)).toBe(true);
      expect(running.emulator.stats).toMatchObject({ tokenRequests: 0, apiRequests: 0 });
    });
  });

  describe("the token endpoint's answer", () => {
    let bomb: Buffer;
    beforeAll(async () => {
      bomb = await gzipOfZeros(400);
    }, 30_000);

    const tokenAnswer = (headers: Record<string, string>, body: string | Buffer) => startLoopbackServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json', ...headers }).end(body);
    });

    it('is refused as bad_response beyond 64 KiB, unread and not cached', async () => {
      server = await tokenAnswer({}, JSON.stringify({ access_token: 'x'.repeat(50 * 2 ** 20), token_type: 'bearer', expires_in: 3600 }));
      running = await start({ loginBaseUrl: server.url });
      const tokens = running.app.get(GenesysTokenService);

      const error = await tokens.getToken().catch((e: unknown) => e);

      expect(error).toMatchObject({ code: 'bad_response', message: expect.stringContaining('larger than 64 KiB') });
      expect(tokens.getState().hasValidToken).toBe(false);
    });

    it('is refused as bad_response when a 400 KB gzip answer inflates to 400 MB, with memory growing under 100 MB', async () => {
      server = await tokenAnswer({ 'Content-Encoding': 'gzip' }, bomb);
      running = await start({ loginBaseUrl: server.url });
      let error: unknown;

      const growth = await peakRssGrowthMiB(async () => (error = await running!.app.get(GenesysTokenService).getToken().catch((e: unknown) => e)));

      expect(bomb.length).toBeLessThan(500_000);
      expect(error).toMatchObject({ code: 'bad_response', message: expect.stringContaining('after decompression') });
      expect(growth).toBeLessThan(100);
    });

    it('is refused as bad_response when the access token is longer than 4 KiB', async () => {
      server = await tokenAnswer({}, JSON.stringify({ access_token: 'x'.repeat(5_000), token_type: 'bearer', expires_in: 3600 }));
      running = await start({ loginBaseUrl: server.url });

      const error = await running.app.get(GenesysTokenService).getToken().catch((e: unknown) => e);

      expect(error).toMatchObject({ code: 'bad_response', message: expect.stringContaining('longer than 4096 characters') });
    });
  });

  describe('expiry', () => {
    it('counts from when the token was requested, so a stalled event loop never hands out an expired token', async () => {
      running = await start({ retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 10 } });
      running.emulator.tokenLifetimeSeconds = 1;
      running.emulator.inject('token', { delayMs: 50 }, 1);
      const genesys = running.app.get(GenesysHttpService);
      const token = running.app.get(GenesysTokenService).getToken();
      await sleep(20);

      const stallUntil = Date.now() + 1_500; // the answer arrives during the stall and is read after it
      while (Date.now() < stallUntil);
      await token;
      running.emulator.tokenLifetimeSeconds = 3600;
      const calls = await Promise.allSettled(Array.from({ length: 20 }, () => genesys.axiosRef.get('/api/v2/organizations/me')));

      expect(calls.filter((call) => call.status === 'rejected')).toHaveLength(0);
      expect(running.emulator.stats.unauthorized).toBe(0);
      expect(running.emulator.stats.tokenRequests).toBe(2);
    });
  });

  describe('a 429 after shutdown', () => {
    it('is handed to the caller at once instead of starting a Retry-After wait', async () => {
      running = await start({ rateLimitRetry: { maxRetries: 2, maxDelayMs: 10_000 } });
      const own = axios.create({ baseURL: running.emulator.url });
      running.app.get(GenesysAuthInterceptor).attachTo(own);
      running.emulator.inject('api', { delayMs: 300, status: 429, headers: { 'Retry-After': '8' } }, 1);
      const pending = own.get('/api/v2/organizations/me').catch((e: unknown) => e);
      await sleep(100);
      await running.app.close();
      const closedAt = Date.now();

      const error = await pending;

      expect(isAxiosError(error) && error.response?.status).toBe(429);
      expect(stalls.elapsedRunning(closedAt)).toBeLessThan(1_000);
    });
  });
});

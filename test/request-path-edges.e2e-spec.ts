import { inspect } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import axios, { AxiosError, isAxiosError, type AxiosAdapter, type AxiosInstance, type InternalAxiosRequestConfig } from 'axios';
import { GenesysAuthInterceptor, GenesysHttpService } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { freeLoopbackPort } from './support/loopback-server.js';
import { LoopStalls } from './support/loop-stalls.js';
import { startRecordingServer, type RecordingServer } from './support/recording-server.js';
import { SilentStore } from './support/silent-store.js';

// Where the request path meets what callers add around it: their own interceptors and retry steps,
// bodies axios cannot send, aborts, other hosts, and a store that stops answering at shutdown.

/** Bounds on a wait are checked on the time the process could run: a stall of the whole process holds up every timer alike. */
const stalls = new LoopStalls();
afterAll(() => stalls.stop());

const ORG_ME = '/api/v2/organizations/me';
const inFlight = (interceptor: GenesysAuthInterceptor) => (interceptor.requests as unknown as { inFlight: number }).inFlight;
const statusOrMessage = (pending: Promise<{ status: number }>) => pending.then((answer) => answer.status, (error: unknown) => (error as Error).message);

let running: EmulatedApp | undefined;
let elsewhere: RecordingServer | undefined;
afterEach(async () => {
  await running?.close();
  await elsewhere?.close();
  running = elsewhere = undefined;
});

describe('errors show no token', () => {
  it('a caller aborting during the wait after a 429 gets a CanceledError with its config and no token however it is rendered', async () => {
    running = await startEmulatedApp();
    const genesys = running.app.get(GenesysHttpService);
    running.emulator.rateLimitApi(2, 1);
    const controller = new AbortController();
    const pending = genesys.axiosRef.get(ORG_ME, { signal: controller.signal }).catch((error: unknown) => error);
    await sleep(300);
    controller.abort();
    const error = (await pending) as Error & { config?: unknown };
    const token = running.emulator.lastIssuedToken!;

    expect(error.name).toBe('CanceledError');
    expect(error.config).toBeDefined();
    for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10 })]) expect(rendering).not.toContain(token);
  });

  it("the error of a request to another host shows no token, though a signed request is in flight on the library's agent", async () => {
    running = await startEmulatedApp();
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get(ORG_ME);
    running.emulator.inject('api', { delayMs: 500 }, 1);
    const signed = genesys.axiosRef.get(ORG_ME);
    await sleep(100);

    const error = await genesys.axiosRef.get(`http://127.0.0.1:${await freeLoopbackPort()}/status`).catch((failure: unknown) => failure);
    await signed;

    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    expect(inspect(error, { depth: 8 })).not.toContain(running.emulator.lastIssuedToken!);
  });

  it("an error's request, logged while another request reuses its kept-alive socket, shows no token", async () => {
    running = await startEmulatedApp();
    const genesys = running.app.get(GenesysHttpService);
    running.emulator.inject('api', { status: 500 }, 1);
    const error = (await genesys.axiosRef.get(ORG_ME).catch((failure: unknown) => failure)) as AxiosError;
    running.emulator.inject('api', { delayMs: 300 }, 1);
    const reusing = genesys.axiosRef.get(ORG_ME); // on the socket the failed request freed
    await sleep(50);

    const logged = inspect(error.request, { depth: 8 });
    await reusing;

    expect(error.response?.status).toBe(500);
    expect(logged).not.toContain(running.emulator.lastIssuedToken!);
  });

  /**
   * A request cancelled while it waits for budget, and the request signed with the token that holds the budget:
   * still in flight, so that its headers are in a socket of the library's agent.
   */
  async function cancelledWhileWaitingForBudget(): Promise<{ error: AxiosError; token: string; signed: Promise<unknown> }> {
    running = await startEmulatedApp({ rateLimit: { requestsPerToken: 1, windowMs: 1_000 } });
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get(ORG_ME);
    await sleep(1_100);
    running.emulator.inject('api', { delayMs: 500 }, 1);
    const signed = genesys.axiosRef.get(ORG_ME); // takes the whole budget
    await sleep(50);

    const error = await genesys.axiosRef.get('/api/v2/users/me', { signal: AbortSignal.timeout(100) }).catch((failure: unknown) => failure);
    return { error: error as AxiosError, token: running.emulator.lastIssuedToken!, signed };
  }

  it('a request cancelled while it waited for budget shows no token of the request in flight', async () => {
    const { error, token, signed } = await cancelledWhileWaitingForBudget();
    const rendered = inspect(error, { depth: 8 });
    await signed;

    expect(error.name).toBe('CanceledError');
    expect(rendered).not.toContain(token);
  });

  it("a request cancelled while it waited for budget shows no token of the request in flight in its JSON, which holds the library's agent", async () => {
    const { error, token, signed } = await cancelledWhileWaitingForBudget();
    const json = JSON.stringify(error.toJSON());
    await signed;

    expect(error.name).toBe('CanceledError');
    expect(json).toContain('"httpAgent":{"keepAlive":true}');
    expect(json).not.toContain(token);
  });
});

describe('a request that fails before it is sent takes nothing', () => {
  const PACED = { rateLimit: { requestsPerToken: 2, windowMs: 300, maxWaitMs: 1_000 } };

  it('a body axios cannot serialise uses no budget and leaves nothing in flight', async () => {
    running = await startEmulatedApp(PACED);
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get(ORG_ME);
    await sleep(400);

    for (let call = 0; call < 2; call++) await expect(genesys.axiosRef.post('/api/v2/analytics/query', { n: 1n })).rejects.toThrow(TypeError);
    await sleep(400);

    expect(await statusOrMessage(genesys.axiosRef.get(ORG_ME))).toBe(200);
    expect(inFlight(running.app.get(GenesysAuthInterceptor))).toBe(0);
  });

  it("a caller's request interceptor that throws after the library's step uses no budget", async () => {
    running = await startEmulatedApp(PACED);
    const own = axios.create({ baseURL: running.emulator.url });
    // Registered before attachTo: axios runs it after the library's request step.
    own.interceptors.request.use((config) => {
      if (config.headers.get('x-tenant') === undefined) throw new Error('x-tenant header missing');
      return config;
    });
    const interceptor = running.app.get(GenesysAuthInterceptor);
    interceptor.attachTo(own);
    const withTenant = { headers: { 'x-tenant': 't' } };
    await own.get(ORG_ME, withTenant);
    await sleep(400);

    for (let call = 0; call < 2; call++) await expect(own.get(ORG_ME)).rejects.toThrow('x-tenant header missing');
    await sleep(400);

    expect(await statusOrMessage(own.get(ORG_ME, withTenant))).toBe(200);
    expect(inFlight(interceptor)).toBe(0);
  });
});

/** What axios-retry and hand-written retry steps do: on a 5xx, send the same config again, once. */
function retryOnceOn5xx(instance: AxiosInstance): void {
  instance.interceptors.response.use(undefined, (error: unknown) => {
    const config = isAxiosError(error) ? (error.config as (typeof error.config & { retried?: boolean }) | undefined) : undefined;
    if (!config || config.retried || (isAxiosError(error) && (error.response?.status ?? 0) < 500)) throw error;
    config.retried = true;
    return instance.request(config);
  });
}

it("a caller's retry step that runs before the library's gives the first attempt's budget back as the retry starts", async () => {
  running = await startEmulatedApp({ rateLimit: { requestsPerToken: 3, windowMs: 500, maxWaitMs: 2_000 } });
  const own = axios.create({ baseURL: running.emulator.url });
  retryOnceOn5xx(own); // registered before attachTo: its error step runs before the library's
  running.app.get(GenesysAuthInterceptor).attachTo(own);

  const outcomes: Array<number | string> = [];
  for (let call = 0; call < 4; call++) {
    running.emulator.inject('api', { status: 503 }, 1);
    outcomes.push(await statusOrMessage(own.get(ORG_ME)));
    await sleep(700); // more than the window: each call has the whole budget
  }

  expect(outcomes).toEqual([200, 200, 200, 200]);
});

it.each([
  ['while a token is held', true],
  ['before any token is held', false],
])("a request that a caller's interceptor sends to another origin after the library's step carries no token (%s)", async (_, tokenHeld) => {
  running = await startEmulatedApp({ rateLimit: false });
  elsewhere = await startRecordingServer('127.0.0.1');
  const own = axios.create({ baseURL: running.emulator.url });
  // Registered before attachTo: it runs after the library's request step.
  own.interceptors.request.use((config) => {
    if (config.headers.get('x-route') === 'mirror') config.baseURL = elsewhere!.url;
    return config;
  });
  running.app.get(GenesysAuthInterceptor).attachTo(own);
  if (tokenHeld) await own.get(ORG_ME);

  await own.get(ORG_ME, { headers: { 'x-route': 'mirror' } });

  expect(elsewhere.received).toHaveLength(1);
  expect(elsewhere.received[0]!.authorization).toBeUndefined();
});

describe("signing meets the caller's headers", () => {
  /** An instance of the caller's, signed by the library, whose interceptor changes the headers inside the library's adapter, as it sends. */
  function ownInstanceTouchingHeaders(app: EmulatedApp, touch: (headers: InternalAxiosRequestConfig['headers']) => void): AxiosInstance {
    const own = axios.create({ baseURL: app.emulator.url });
    // Registered before attachTo: it runs after the library's step, and wraps the library's adapter.
    own.interceptors.request.use((config) => {
      const send = config.adapter as AxiosAdapter;
      config.adapter = (sent: InternalAxiosRequestConfig) => {
        touch(sent.headers);
        return send(sent);
      };
      return config;
    });
    app.app.get(GenesysAuthInterceptor).attachTo(own);
    return own;
  }

  it('a 401 replay carries the renewed token though a wrapper copied the old one under a lower-case name', async () => {
    running = await startEmulatedApp({ rateLimit: false });
    const own = ownInstanceTouchingHeaders(running, (headers) => {
      if (headers.Authorization) headers.authorization = headers.Authorization;
    });
    await own.get(ORG_ME);
    running.emulator.revokeAllTokens();

    expect(await statusOrMessage(own.get(ORG_ME))).toBe(200);
  });

  it("a caller's own header after an unset spelling of it is left alone: its 401 renews nothing", async () => {
    running = await startEmulatedApp({ rateLimit: false });
    const own = ownInstanceTouchingHeaders(running, (headers) => {
      headers.set('authorization', undefined);
      headers.Authorization = 'Bearer callers-own';
    });

    expect(await statusOrMessage(own.get(ORG_ME))).toMatch(/401/);
    expect(running.emulator.apiRequests.map((request) => request.headers.authorization)).toEqual(['Bearer callers-own']);
    expect(running.emulator.stats.tokenRequests).toBe(0);
  });

  it('an Authorization property on Object.prototype does not pass for a header of the caller\'s', async () => {
    running = await startEmulatedApp({ rateLimit: false });
    const prototype = Object.prototype as Record<string, unknown>;
    prototype.authorization = 'polluted';
    try {
      expect(await statusOrMessage(running.app.get(GenesysHttpService).axiosRef.get(ORG_ME))).toBe(200);
    } finally {
      delete prototype.authorization;
    }
  });
});

describe("adapters: the caller's and the library's", () => {
  it("a 401 replay through a caller's interceptor that wraps the adapter is sent once more, not through the wrapper again and again", async () => {
    running = await startEmulatedApp({ rateLimit: false });
    const own = axios.create({ baseURL: running.emulator.url });
    let adapterCalls = 0;
    // Registered before attachTo: it runs after the library's step, and wraps the library's adapter.
    own.interceptors.request.use((config) => {
      const wrapped = config.adapter as AxiosAdapter;
      config.adapter = async (sent: InternalAxiosRequestConfig) => {
        if (++adapterCalls > 100) throw new Error('the wrapper was called 100 times for one request');
        return axios.getAdapter(wrapped)(sent);
      };
      return config;
    });
    running.app.get(GenesysAuthInterceptor).attachTo(own);
    await own.get(ORG_ME);
    running.emulator.revokeAllTokens();
    adapterCalls = 0;

    expect(await statusOrMessage(own.get(ORG_ME))).toBe(200);
    expect(adapterCalls).toBe(2); // the refused attempt and its replay
  });

  it.each([
    ['rejecting with a plain Error', () => Promise.reject(new Error('offline'))],
    ['throwing at once', () => {
      throw new Error('offline');
    }],
    ['rejecting with an AxiosError of its own, without the config', () => Promise.reject(new AxiosError('offline', 'ERR_NETWORK'))],
  ])("a caller's adapter %s leaves nothing in flight, and the budget counts it for one window at most", async (_, fail: () => never | Promise<never>) => {
    running = await startEmulatedApp({ rateLimit: { requestsPerToken: 2, windowMs: 300, maxWaitMs: 1_000 } });
    let offline = false;
    const http = axios.getAdapter('http');
    const own = axios.create({ baseURL: running.emulator.url, adapter: (config) => (offline ? fail() : http(config)) });
    const interceptor = running.app.get(GenesysAuthInterceptor);
    interceptor.attachTo(own);
    await own.get(ORG_ME);
    await sleep(400);

    offline = true;
    for (let call = 0; call < 2; call++) expect(await statusOrMessage(own.get(ORG_ME))).toBe('offline');
    offline = false;

    expect(inFlight(interceptor)).toBe(0);
    expect(await statusOrMessage(own.get(ORG_ME))).toBe(200);
  });

  it('a request sent with the fetch adapter shows no token in its error, its request or its response', async () => {
    running = await startEmulatedApp();
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get(ORG_ME);
    running.emulator.inject('api', { status: 500 }, 1);

    const error = (await genesys.axiosRef.get(ORG_ME, { adapter: 'fetch' }).catch((failure: unknown) => failure)) as { request?: unknown; response?: { request?: unknown } };
    const token = running.emulator.lastIssuedToken!;

    for (const rendering of [JSON.stringify(error), inspect(error, { depth: 20 }), inspect(error.request), inspect(error.response, { depth: 6 }), inspect(error.response?.request)]) {
      expect(rendering).not.toContain(token);
    }
  });

  it.each([
    ['a failed request', 503],
    ['an answered request', 200],
  ])("a caller sending the config of %s again on another axios instance leaves nothing in flight here", async (_, status) => {
    running = await startEmulatedApp({ rateLimit: false });
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get(ORG_ME);
    if (status !== 200) running.emulator.inject('api', { status }, 1);
    const outcome: unknown = await genesys.axiosRef.get(ORG_ME).catch((failure: unknown) => failure);
    const config = isAxiosError(outcome) ? outcome.config! : (outcome as { config: InternalAxiosRequestConfig }).config;

    await axios.request({ ...config, url: ORG_ME }).catch(() => undefined);

    expect(inFlight(running.app.get(GenesysAuthInterceptor))).toBe(0);
  });

  it("says once why requests get 401 when an interceptor running after the library's replaces config.adapter", async () => {
    running = await startEmulatedApp({ rateLimit: false });
    const own = axios.create({ baseURL: running.emulator.url });
    own.interceptors.request.use((config) => {
      config.adapter = 'http'; // registered before attachTo: it runs after the library's step
      return config;
    });
    running.app.get(GenesysAuthInterceptor).attachTo(own);

    for (let call = 0; call < 2; call++) expect(await statusOrMessage(own.get(ORG_ME))).toBe('Request failed with status code 401');

    expect(running.logs.lines.filter((line) => line.includes('replaced config.adapter'))).toHaveLength(1);
  });
});

it("app.close() returns within 4 s and answers every waiting caller when the store's close never settles", async () => {
  const store = new SilentStore();
  const { app, emulator } = await startEmulatedApp({ tokenStore: store, rateLimit: { requestsPerToken: 2, windowMs: 5_000, maxWaitMs: 30_000 } });
  try {
    const genesys = app.get(GenesysHttpService);
    await genesys.axiosRef.get(ORG_ME);
    store.silent = true;
    const callers = Promise.all(Array.from({ length: 6 }, () => statusOrMessage(genesys.axiosRef.get(ORG_ME))));
    await sleep(300);

    const startedAt = Date.now();
    await app.close();

    expect(stalls.elapsedRunning(startedAt)).toBeLessThan(4_000);
    expect(await Promise.race([callers.then(() => 'all answered'), sleep(1_000).then(() => 'callers still waiting')])).toBe('all answered');
  } finally {
    await emulator.close();
  }
}, 20_000);

import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { isAxiosError, type AxiosResponse } from 'axios';
import { GenesysAuthError, GenesysAuthInterceptor, GenesysHttpService } from 'nestjs-genesys-auth';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';
import { startLoopbackServer, type LoopbackServer } from './support/loopback-server.js';

/** A host that is not Genesys and answers 200, keeping each request's method, headers and body. */
interface ForeignHost extends LoopbackServer {
  readonly received: { method?: string; headers: IncomingHttpHeaders; body: string }[];
}

async function startForeignHost(host = '127.0.0.1'): Promise<ForeignHost> {
  const received: ForeignHost['received'] = [];
  const server = await startLoopbackServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push({ method: request.method, headers: request.headers, body });
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"foreign":true}');
    });
  }, host);
  return { ...server, received };
}

/** Requests the interceptor counts as in flight: an attempt never ended would hold `app.close()`. */
const inFlight = (interceptor: GenesysAuthInterceptor) => (interceptor.requests as unknown as { inFlight: number }).inFlight;

/** What follow-redirects records on every answer it hands on; absent from an answer Node's own transport brought. */
function followRedirectsBookkeeping(response: AxiosResponse): unknown {
  return (response.request as { res?: { responseUrl?: string } }).res?.responseUrl;
}

describe('redirects of the library’s requests', () => {
  let running: EmulatedApp;
  let genesys: GenesysHttpService;
  let foreign: ForeignHost;

  async function start(options: Parameters<typeof startEmulatedApp>[0] = {}): Promise<void> {
    running = await startEmulatedApp(options);
    genesys = running.app.get(GenesysHttpService);
  }
  beforeEach(async () => {
    foreign = await startForeignHost('127.0.0.2');
  });
  afterEach(async () => {
    await running?.close();
    await foreign.close();
  });

  it('a GET without a body goes out on Node’s own transport, without follow-redirects’ wrapper', async () => {
    await start();

    const response = await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(response.status).toBe(200);
    expect(followRedirectsBookkeeping(response)).toBeUndefined();
  });

  it('a POST still goes through follow-redirects, which sends it again with its body after a 307', async () => {
    await start();
    running.emulator.inject('api', { status: 307, headers: { Location: `${foreign.url}/moved` } }, 1);

    const response = await genesys.axiosRef.post('/api/v2/analytics/conversations/details/query', { interval: 'P1D' });

    expect(followRedirectsBookkeeping(response)).toBe(`${foreign.url}/moved`);
    expect(foreign.received).toEqual([expect.objectContaining({ method: 'POST', body: '{"interval":"P1D"}' })]);
    expect(foreign.received[0].headers.authorization).toBeUndefined();
  });

  it('a redirect answering a GET is followed: the caller gets the final answer, with their request’s config', async () => {
    await start();
    running.emulator.inject('api', { status: 303, headers: { Location: `${foreign.url}/download?part=1` } }, 1);

    const response = await genesys.axiosRef.get('/api/v2/downloads/abc', { params: { issueRedirect: true } });

    expect(response.data).toEqual({ foreign: true });
    expect(response.config.url).toBe('/api/v2/downloads/abc');
    expect(foreign.received).toEqual([expect.objectContaining({ method: 'GET' })]);
    expect(foreign.received[0].headers.authorization).toBeUndefined();
  });

  it('a HEAD stays a HEAD on its first hop', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);

    await genesys.axiosRef.head('/api/v2/organizations/me');

    expect(foreign.received.map((request) => request.method)).toEqual(['HEAD']);
  });

  it('the first hop resolves a relative Location against the request’s URL, with the query it gives and not the request’s params', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: 'me?hop=1' } }, 1);
    const before = running.emulator.apiRequests.length;

    await genesys.axiosRef.get('/api/v2/organizations/elsewhere', { params: { original: 'yes' } });

    expect(running.emulator.apiRequests.slice(before).map((request) => request.path)).toEqual([
      '/api/v2/organizations/elsewhere?original=yes',
      '/api/v2/organizations/me?hop=1',
    ]);
  });

  it('a hop to another host leaves the caller’s own Authorization and Cookie behind, as axios does', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);

    await genesys.axiosRef.get('/api/v2/organizations/me', { headers: { Authorization: 'Bearer callers-own', Cookie: 'session=1', 'X-Trace': 't' } });

    expect(running.emulator.apiRequests.at(-1)?.headers.authorization).toBe('Bearer callers-own');
    expect(foreign.received[0].headers).toMatchObject({ 'x-trace': 't' });
    expect(foreign.received[0].headers.authorization).toBeUndefined();
    expect(foreign.received[0].headers.cookie).toBeUndefined();
  });

  it('a hop to a sub-domain is a hop to another origin: the caller’s own Authorization and Cookie stay behind', async () => {
    await start();
    const port = new URL(foreign.url).port;
    const received: IncomingHttpHeaders[] = [];
    const sites = await startLoopbackServer((request, response) => {
      received.push(request.headers);
      if (request.url === '/start') response.writeHead(302, { Location: `http://sub.foreign.test:${port}/next` }).end();
      else response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    }, '127.0.0.3', Number(port));
    // foreign.test and its sub-domain are both that server.
    const lookup = (_host: string, _options: object, callback: (error: null, address: string, family: 4) => void) => callback(null, '127.0.0.3', 4);
    try {
      await genesys.axiosRef.get(`http://foreign.test:${port}/start`, { headers: { Authorization: 'Basic callers-own', Cookie: 'session=1' }, lookup });

      expect(received.map((headers) => headers.host)).toEqual([`foreign.test:${port}`, `sub.foreign.test:${port}`]);
      expect(received[1]).not.toHaveProperty('authorization');
      expect(received[1]).not.toHaveProperty('cookie');
    } finally {
      await sites.close();
    }
  });

  it('a caller’s sensitiveHeaders stay behind on a hop to another origin', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);

    await genesys.axiosRef.get('/api/v2/organizations/me', { headers: { 'X-Api-Key': 'secret-key' }, sensitiveHeaders: ['X-Api-Key'] });

    expect(foreign.received[0].headers['x-api-key']).toBeUndefined();
  });

  describe('from another host to the API origin', () => {
    let redirecting: LoopbackServer;
    beforeEach(async () => {
      await start();
      redirecting = await startLoopbackServer((_, response) => {
        response.writeHead(302, { Location: `${running.emulator.url}/api/v2/organizations/me` }).end();
      });
    });
    afterEach(() => redirecting.close());

    it('a redirect goes unsigned: no host can lead the library’s token into a request', async () => {
      const error = await genesys.axiosRef.get(`${redirecting.url}/start`).catch((failure: unknown) => failure);

      expect(isAxiosError(error) && error.response?.status).toBe(401);
      expect(running.emulator.apiRequests.at(-1)?.headers.authorization).toBeUndefined();
      expect(running.emulator.stats.tokenRequests).toBe(0);
    });

    it('a config whose redirect went unsigned is signed when the caller sends it to the API afterwards', async () => {
      const error = await genesys.axiosRef.get(`${redirecting.url}/start`).catch((failure: unknown) => failure);
      if (!isAxiosError(error) || !error.config) throw new Error('expected the unsigned hop to fail with 401');

      const again = await genesys.axiosRef.request({ ...error.config, url: '/api/v2/organizations/me' });

      expect(again.status).toBe(200);
    });
  });

  it('a signed request redirected off the API hands back a config without the token: sent again, it is signed afresh', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);
    const redirected = await genesys.axiosRef.get('/api/v2/organizations/me');
    running.emulator.revokeAllTokens();

    const again = await genesys.axiosRef.request(redirected.config);

    expect(again.status).toBe(200);
    expect(running.emulator.apiRequests.at(-1)?.headers.authorization).toBe(`Bearer ${running.emulator.lastIssuedToken}`);
  });

  it('a Location’s own user info is not sent on as Basic auth', async () => {
    await start();
    const withUserInfo = foreign.url.replace('http://', 'http://someone:secret@');
    running.emulator.inject('api', { status: 302, headers: { Location: `${withUserInfo}/moved` } }, 1);

    await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(foreign.received[0].headers.authorization).toBeUndefined();
  });

  it('a hop leaves the caller’s config as it was: their own Authorization and Cookie are still in it', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);

    const response = await genesys.axiosRef.get('/api/v2/organizations/me', { headers: { Authorization: 'Bearer callers-own', Cookie: 'session=1' } });

    expect(response.config.headers.Authorization).toBe('Bearer callers-own');
    expect(response.config.headers.Cookie).toBe('session=1');
  });

  it('a 401 on a hop back to the API renews the token and sends the caller’s request again, whose config they get', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: '/api/v2/organizations/me?hop=1' } }, 1);
    running.emulator.inject('api', { status: 401 }, 1);

    const response = await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(response.status).toBe(200);
    expect(response.config.url).toBe('/api/v2/organizations/me');
    expect(running.emulator.stats.tokenRequests).toBe(2);
  });

  it('a hop that fails hands the caller an error with their request’s config', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: '/api/v2/organizations/me?hop=1' } }, 1);
    running.emulator.inject('api', { status: 503 }, 1);

    const error = await genesys.axiosRef.get('/api/v2/organizations/me', { params: { page: 2 } }).catch((failure: unknown) => failure);

    expect(isAxiosError(error) && error.response?.status).toBe(503);
    expect(isAxiosError(error) && error.config).toMatchObject({ url: '/api/v2/organizations/me', params: { page: 2 } });
  });

  it.each(['data:application/json,{}', 'mailto:someone@example.com'])('a Location of another scheme (%s) is not followed: the redirect fails the request', async (location) => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: location } }, 1);
    const before = running.emulator.apiRequests.length;

    const error = await genesys.axiosRef.get('/api/v2/organizations/me').catch((failure: unknown) => failure);

    expect(isAxiosError(error) && error.response?.status).toBe(302);
    expect(running.emulator.apiRequests.length - before).toBe(1);
  });

  it('a Location that is only a fragment keeps the query the request was sent with', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: '#part' } }, 1);
    const before = running.emulator.apiRequests.length;

    await genesys.axiosRef.get('/api/v2/organizations/me', { params: { a: 1 } });

    expect(running.emulator.apiRequests.slice(before).map((request) => request.path)).toEqual(['/api/v2/organizations/me?a=1', '/api/v2/organizations/me?a=1']);
  });

  it('a hop back to the API origin is signed and takes budget of its own: a redirect cannot overdraw the token', async () => {
    await start({ rateLimit: { requestsPerToken: 2, windowMs: 60_000, maxWaitMs: 200 } });
    running.emulator.inject('api', { status: 307, headers: { Location: '/api/v2/organizations/me?hop=1' } }, 1);
    const before = running.emulator.apiRequests.length;

    await genesys.axiosRef.get('/api/v2/organizations/me');
    const third = await genesys.axiosRef.get('/api/v2/organizations/me').catch((error: unknown) => error);

    const hops = running.emulator.apiRequests.slice(before);
    expect(hops.map((request) => request.headers.authorization)).toEqual([expect.stringMatching(/^Bearer /), expect.stringMatching(/^Bearer /)]);
    expect(third).toBeInstanceOf(GenesysAuthError);
    expect((third as GenesysAuthError).code).toBe('throttled');
  });

  it('allows the 21 redirects follow-redirects allows, counting the first hop', async () => {
    await start({ rateLimit: false });
    running.emulator.inject('api', { status: 302, headers: { Location: '/api/v2/organizations/me' } }, 21);

    const response = await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(response.data).toMatchObject({ name: 'Emulated Org' });
  });

  it('fails a 22nd redirect as follow-redirects does', async () => {
    await start({ rateLimit: false });
    running.emulator.inject('api', { status: 302, headers: { Location: '/api/v2/organizations/me' } }, 22);

    const error = await genesys.axiosRef.get('/api/v2/organizations/me').catch((failure: unknown) => failure);

    expect(isAxiosError(error) && error.code).toBe('ERR_FR_TOO_MANY_REDIRECTS');
  });

  it('a response step of the caller’s sees a redirected GET’s answer once', async () => {
    await start();
    const seen: unknown[] = [];
    genesys.axiosRef.interceptors.response.use((response) => {
      seen.push(response.data);
      return response;
    });
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);

    await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(seen).toEqual([{ foreign: true }]);
  });

  it('a redirect whose Location is no URL fails the request with the redirect as its answer, and ends it', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: 'http://[not-a-host' } }, 1);

    const error = await genesys.axiosRef.get('/api/v2/organizations/me').catch((failure: unknown) => failure);

    expect(isAxiosError(error) && error.response?.status).toBe(302);
    expect(inFlight(running.app.get(GenesysAuthInterceptor))).toBe(0);
  });

  it('a caller’s maxRedirects: 0 gets the redirect itself, not followed', async () => {
    await start();
    running.emulator.inject('api', { status: 302, headers: { Location: `${foreign.url}/moved` } }, 1);

    const error = await genesys.axiosRef.get('/api/v2/organizations/me', { maxRedirects: 0 }).catch((failure: unknown) => failure);

    expect(isAxiosError(error) && error.response?.status).toBe(302);
    expect(foreign.received).toHaveLength(0);
  });

  it('hands the caller’s config back without the maxRedirects: 0 it was sent with', async () => {
    await start();

    const response = await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(response.config).not.toHaveProperty('maxRedirects');
  });
});

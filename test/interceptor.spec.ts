import { describe, expect, it } from '@jest/globals';
import axios, { type InternalAxiosRequestConfig } from 'axios';
import { GenesysAuthInterceptor, type GenesysTokenService } from 'nestjs-genesys-auth';
import { systemClock } from '../lib/clock.js';
import { resolveGenesysAuthOptions } from '../lib/genesys-auth.options.js';

const heldToken = {
  peekAccessToken: () => 'held-token',
  getAccessToken: async () => 'held-token',
  recordAccepted: () => undefined,
} as unknown as GenesysTokenService;

const interceptorFor = (apiBaseUrl?: string) =>
  new GenesysAuthInterceptor(
    resolveGenesysAuthOptions({ clientId: 'id', clientSecret: 'secret', region: 'us-east-1', apiBaseUrl }),
    heldToken,
    systemClock,
  );

describe('GenesysAuthInterceptor origin check', () => {
  const interceptor = interceptorFor();

  it.each([
    'https://api.mypurecloud.com/api/v2/users',
    'https://api.mypurecloud.com:443/api/v2/users',
    'https://API.MyPureCloud.com/api/v2/users',
  ])('signs %s', (url) => {
    expect(interceptor.isApiUrl(url)).toBe(true);
  });

  it.each([
    ['a look-alike suffix', 'https://api.mypurecloud.com.evil.test/api/v2/users'],
    ['a userinfo trick', 'https://api.mypurecloud.com@evil.test/'],
    ['user info on the right host', 'https://user:pw@api.mypurecloud.com/'],
    ['an http downgrade', 'http://api.mypurecloud.com/api/v2/users'],
    ['another port', 'https://api.mypurecloud.com:8443/'],
    ['the login host', 'https://login.mypurecloud.com/oauth/token'],
    ['another region', 'https://api.mypurecloud.ie/api/v2/users'],
    ['a sub-domain', 'https://x.api.mypurecloud.com/'],
    ['an IP literal', 'https://52.0.0.1/api/v2/users'],
    ['an IPv6 literal', 'https://[::1]/api/v2/users'],
    ['a relative URL', '/api/v2/users'],
    ['garbage', 'not a url'],
  ])('does not sign %s', (_, url) => {
    expect(interceptor.isApiUrl(url)).toBe(false);
  });

  it('signs only the apiBaseUrl origin when one is configured', () => {
    const overridden = interceptorFor('http://127.0.0.1:8080');
    expect(overridden.isApiUrl('http://127.0.0.1:8080/api/v2/users')).toBe(true);
    expect(overridden.isApiUrl('https://api.mypurecloud.com/api/v2/users')).toBe(false);
    expect(overridden.isApiUrl('http://localhost:8080/api/v2/users')).toBe(false);
  });
});

describe('GenesysAuthInterceptor redirects', () => {
  /** Sends one signed request through an adapter that only keeps the config, and returns its beforeRedirect hook. */
  async function beforeRedirectOfSignedRequest() {
    let sent: InternalAxiosRequestConfig | undefined;
    const instance = axios.create({
      baseURL: 'https://api.mypurecloud.com',
      adapter: async (config) => {
        sent = config;
        return { data: {}, status: 200, statusText: 'OK', headers: {}, config };
      },
    });
    interceptorFor().attachTo(instance);
    await instance.get('/api/v2/organizations/me');
    expect(sent?.headers.Authorization).toBe('Bearer held-token');
    return sent!.beforeRedirect!;
  }

  // follow-redirects itself keeps Authorization for sub-domains of the current host.
  it.each([
    ['a sub-domain of the API host', { protocol: 'https:', hostname: 'evil.api.mypurecloud.com' }],
    ['another port', { protocol: 'https:', hostname: 'api.mypurecloud.com', port: '8443' }],
    ['plain http', { protocol: 'http:', hostname: 'api.mypurecloud.com' }],
  ])('drops the token when a redirect goes to %s', async (_, target) => {
    const beforeRedirect = await beforeRedirectOfSignedRequest();
    const options = { ...target, headers: { authorization: 'Bearer held-token', Accept: 'application/json' } };

    beforeRedirect(options, { headers: {}, statusCode: 302 }, {} as never);

    expect(options.headers).toEqual({ Accept: 'application/json' });
  });

  it('keeps the token when a redirect stays on the API origin', async () => {
    const beforeRedirect = await beforeRedirectOfSignedRequest();
    const options = { protocol: 'https:', hostname: 'api.mypurecloud.com', headers: { Authorization: 'Bearer held-token' } };

    beforeRedirect(options, { headers: {}, statusCode: 302 }, {} as never);

    expect(options.headers).toEqual({ Authorization: 'Bearer held-token' });
  });
});

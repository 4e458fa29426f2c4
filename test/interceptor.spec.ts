import { describe, expect, it } from '@jest/globals';
import { GenesysAuthInterceptor, type GenesysTokenService } from 'nestjs-genesys-auth';
import { systemClock } from '../lib/clock.js';
import { resolveGenesysAuthOptions } from '../lib/genesys-auth.options.js';

const interceptorFor = (apiBaseUrl?: string) =>
  new GenesysAuthInterceptor(
    resolveGenesysAuthOptions({ clientId: 'id', clientSecret: 'secret', region: 'us-east-1', apiBaseUrl }),
    {} as GenesysTokenService,
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

import { describe, expect, it } from '@jest/globals';
import { GenesysAuthError, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { resolveGenesysAuthOptions } from '../lib/genesys-auth.options.js';

const SECRET = 'very-secret-value-123';
const valid: GenesysAuthModuleOptions = { clientId: 'client-id', clientSecret: SECRET };

function failureOf(options: unknown): GenesysAuthError {
  try {
    resolveGenesysAuthOptions(options as GenesysAuthModuleOptions);
  } catch (error) {
    if (error instanceof GenesysAuthError) return error;
    throw error;
  }
  throw new Error('expected the options to be refused');
}

describe('module options', () => {
  it('fills in defaults: us-east-1 origins, Basic auth, eager first token', () => {
    expect(resolveGenesysAuthOptions(valid)).toMatchObject({
      region: 'mypurecloud.com',
      loginBaseUrl: 'https://login.mypurecloud.com',
      apiBaseUrl: 'https://api.mypurecloud.com',
      clientAuthentication: 'basic',
      fetchTokenOnStartup: true,
      scopes: [],
    });
  });

  it('trims blanks and newlines around the client id and secret', () => {
    expect(resolveGenesysAuthOptions({ clientId: '  client-id\n', clientSecret: `${SECRET}\n` })).toMatchObject({ clientId: 'client-id', clientSecret: SECRET });
  });

  it.each([
    ['tokenStore', { tokenStore: { getToken: () => undefined } }],
    ['tokenPool.size', { tokenPool: { size: 51 } }],
    ['rateLimit.requestsPerToken', { rateLimit: { requestsPerToken: 0 } }],
    ['unauthorizedRenewalIntervalMs', { unauthorizedRenewalIntervalMs: -1 }],
  ])('refuses a bad %s, naming it', (field, options) => {
    expect(failureOf({ ...valid, ...options }).message).toContain(`"${field}"`);
  });

  it('derives both origins from the region', () => {
    expect(resolveGenesysAuthOptions({ ...valid, region: 'eu-central-2' })).toMatchObject({
      loginBaseUrl: 'https://login.euc2.pure.cloud',
      apiBaseUrl: 'https://api.euc2.pure.cloud',
    });
  });

  it('lets loginBaseUrl and apiBaseUrl override the region, trimmed to their origin', () => {
    const config = resolveGenesysAuthOptions({ ...valid, loginBaseUrl: 'https://proxy.example/', apiBaseUrl: 'http://127.0.0.1:8080' });
    expect(config).toMatchObject({ loginBaseUrl: 'https://proxy.example', apiBaseUrl: 'http://127.0.0.1:8080' });
  });

  it.each([
    [{ clientId: '' }, 'clientId'],
    [{ clientId: undefined }, 'clientId'],
    [{ clientSecret: '   ' }, 'clientSecret'],
    [{ clientSecret: 42 }, 'clientSecret'],
    [{ region: 'moon-1' }, 'region'],
    [{ loginBaseUrl: 'http://login.example.com' }, 'loginBaseUrl'],
    [{ apiBaseUrl: 'not a url' }, 'apiBaseUrl'],
    [{ apiBaseUrl: 'https://user:pw@api.example.com' }, 'apiBaseUrl'],
    [{ apiBaseUrl: 'https://api.example.com/api/v2' }, 'apiBaseUrl'],
    [{ scopes: ['ok', 'has space'] }, 'scopes'],
    [{ clientAuthentication: 'digest' }, 'clientAuthentication'],
    [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
    [{ refresh: { atLifetimeFraction: 1.5 } }, 'refresh.atLifetimeFraction'],
    [{ tokenRequestTimeoutMs: -1 }, 'tokenRequestTimeoutMs'],
    [{ fetchTokenOnStartup: 'yes' }, 'fetchTokenOnStartup'],
  ])('refuses %j naming the field %s', (override, field) => {
    const error = failureOf({ ...valid, ...override });
    expect(error.code).toBe('invalid_options');
    expect(error.message).toContain(`"${field}"`);
  });

  it('lists the valid regions when the region is unknown', () => {
    expect(failureOf({ ...valid, region: 'moon-1' }).message).toMatch(/us-west-2 \(usw2\.pure\.cloud, usw2\).*eu-west-1 \(mypurecloud\.ie\)/);
  });

  it('refuses missing options as a whole', () => {
    expect(failureOf(undefined).message).toContain('"clientId"');
  });

  it('never puts the secret into a refusal, even when the secret is what is wrong elsewhere', () => {
    const errors = [
      failureOf({ ...valid, region: 'nowhere' }),
      failureOf({ ...valid, clientId: '' }),
      failureOf({ clientSecret: SECRET, clientId: 'x', apiBaseUrl: 'ftp://x' }),
    ];
    for (const error of errors) {
      expect(`${error.message} ${error.stack} ${JSON.stringify(error)}`).not.toContain(SECRET);
    }
  });
});

import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Module } from '@nestjs/common';
import { isAxiosError } from 'axios';
import { TerminusModule } from '@nestjs/terminus';
import { GenesysAuthInterceptor, GenesysClient, GenesysHttpService, GenesysTokenService, type GenesysTokenEvent } from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { GenesysAuthHealthIndicator } from 'nestjs-genesys-auth/health';
import type { EmulatorFault } from 'nestjs-genesys-auth/testing';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';

const CLIENT_ID = 'client-id-visible';
// Characters that URL and form encoding change, so that each encoded form differs from the raw secret.
const SECRET = 'S3CRET+recognisable/Zq9=x7&Kw2 x';
/** The secret as a server or proxy might re-encode it when echoing it. */
const REENCODED_SECRETS = [
  Buffer.from(SECRET).toString('base64'),
  Buffer.from(SECRET).toString('base64url'),
  Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64url'),
  encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
  JSON.stringify(SECRET).slice(1, -1).replaceAll('/', '\\/'),
];

@Module({ imports: [TerminusModule], providers: [GenesysAuthHealthIndicator] })
class HealthModule {}

/** Everything the library let out during the run, as text. */
const captured: string[] = [];
const keep = (value: unknown) => captured.push(typeof value === 'string' ? value : `${safeJson(value)}\n${inspect(value, { depth: 12, showHidden: true })}`);
const safeJson = (value: unknown) => {
  try {
    return JSON.stringify(value);
  } catch (error) {
    return String(error);
  }
};

describe('no secret and no token leaves the library, on any failure path', () => {
  let running: EmulatedApp;
  let tokens: GenesysTokenService;
  let genesys: GenesysHttpService;
  const events: GenesysTokenEvent[] = [];

  beforeAll(async () => {
    running = await startEmulatedApp(
      {
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        isGlobal: true,
        tokenRequestTimeoutMs: 1_000,
        retry: { maxAttempts: 1, initialDelayMs: 600_000, maxDelayMs: 600_000 },
        rateLimitRetry: { maxRetries: 1, maxDelayMs: 50 },
        unauthorizedRenewalIntervalMs: 0, // each path starts with a fresh token that the API must be allowed to refuse and renew
      } as never,
      { clientId: CLIENT_ID, clientSecret: SECRET },
      [HealthModule],
    );
    tokens = running.app.get(GenesysTokenService);
    genesys = running.app.get(GenesysHttpService);
    tokens.events$.subscribe((event) => events.push(event));
    await genesys.axiosRef.get('/api/v2/organizations/me');
  });

  afterAll(async () => {
    await running.close();
  });

  const tokenFailures: [string, EmulatorFault][] = [
    ['503', { status: 503, body: 'down' }],
    ['timeout', { hang: true }],
    ['reset', { reset: true }],
    ['429', { status: 429, headers: { 'Retry-After': '1' } }],
    ['rate limit 400', { status: 400, body: { error: 'invalid_request', error_description: 'rate limit exceeded; wait' } }],
    ['invalid_client echoing the secret', { status: 401, body: { error: 'invalid_client', error_description: `bad secret ${SECRET}` } }],
    [
      'invalid_client echoing the secret as it was sent (Basic credentials, URL- and form-encoded)',
      {
        status: 400,
        body: {
          error: 'invalid_client',
          error_description: `auth=Basic ${Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64')} url=${encodeURIComponent(SECRET)} form=${new URLSearchParams({ s: SECRET }).toString().slice(2)}`,
        },
      },
    ],
    [
      'invalid_client echoing the secret re-encoded (base64, base64url, lower-case percent-encoding, JSON with escaped slashes)',
      { status: 400, body: { error: 'invalid_client', error_description: REENCODED_SECRETS.join(' ') } },
    ],
    ['HTML', { status: 200, body: `<html>${SECRET}</html>` }],
    ['token with a line break', { status: 200, body: { access_token: `${SECRET}\r\n`, token_type: 'bearer', expires_in: 60 } }],
    ['bad expires_in', { status: 200, body: { access_token: 'tok', token_type: 'bearer', expires_in: 'never' } }],
  ];

  it.each(tokenFailures)('token endpoint failure: %s', async (_, fault) => {
    running.emulator.inject('token', fault, 1);
    keep(await tokens.refresh().catch((error: unknown) => error));
    keep(tokens.getState());
    keep(await running.app.get(GenesysAuthHealthIndicator).isHealthy());
  });

  // Successful responses carry the token in their config by design; only failures are searched.
  const apiFailures: [string, () => void, () => Promise<unknown>, 'AxiosError' | 'success'][] = [
    ['500', () => running.emulator.inject('api', { status: 500, body: { message: 'boom' } }, 1), () => genesys.axiosRef.get('/api/v2/organizations/me'), 'AxiosError'],
    ['401 twice', () => running.emulator.inject('api', { status: 401 }, 2), () => genesys.axiosRef.get('/api/v2/organizations/me'), 'AxiosError'],
    ['429 past the limit', () => running.emulator.rateLimitApi(0, 2), () => genesys.axiosRef.get('/api/v2/routing/queues'), 'AxiosError'],
    ['429 too long to wait', () => running.emulator.rateLimitApi(60, 1), () => genesys.axiosRef.get('/api/v2/routing/queues'), 'AxiosError'],
    ['reset', () => running.emulator.inject('api', { reset: true }, 1), () => genesys.axiosRef.get('/api/v2/organizations/me'), 'AxiosError'],
    ['timeout', () => running.emulator.inject('api', { hang: true }, 1), () => genesys.axiosRef.get('/api/v2/organizations/me', { timeout: 150 }), 'AxiosError'],
    ['404', () => undefined, () => genesys.axiosRef.get('/api/v2/nowhere'), 'AxiosError'],
    ['stream body 401', () => running.emulator.inject('api', { status: 401 }, 1), () => genesys.axiosRef.post('/api/v2/organizations/me', Readable.from(['x'])), 'AxiosError'],
    ['revoked token under load', () => running.emulator.revokeAllTokens(), () => Promise.all(Array.from({ length: 20 }, () => genesys.axiosRef.get('/api/v2/organizations/me'))), 'success'],
  ];

  it.each(apiFailures)('API failure: %s', async (_, arrange, act, expected) => {
    running.emulator.clearFaults();
    await tokens.refresh(); // a fresh start: earlier token failures must not short-circuit this path
    arrange();
    const outcome = await act().then(
      () => 'success',
      (error: unknown) => error,
    );
    if (outcome !== 'success') keep(outcome);
    const kind = outcome === 'success' ? outcome : isAxiosError(outcome) ? 'AxiosError' : 'other';
    if (kind !== expected) throw new Error(`expected ${expected}, got ${inspect(outcome, { depth: 1 })}`);
  });

  it('logging the client unit and its services', async () => {
    await genesys.axiosRef.get('/api/v2/organizations/me'); // a token is held
    for (const service of [GenesysClient, GenesysTokenService, GenesysHttpService, GenesysAuthInterceptor]) keep(running.app.get<object>(service));
    keep(new RedisTokenStore({ client: { get: async () => null, set: async () => null, eval: async () => null } as never, encryptionKey: SECRET }));
    expect(captured.at(-2)).toContain('GenesysAuthInterceptor');
  });

  it('shutdown', async () => {
    running.emulator.inject('token', { hang: true });
    const waiting = tokens.refresh().catch((error: unknown) => error);
    await running.app.close();
    keep(await waiting);
    keep(await tokens.getAccessToken().catch((error: unknown) => error));
  });

  it('left neither the secret, the Basic credentials nor any issued token anywhere', () => {
    keep(events);
    keep(running.logs.lines.join('\n'));
    const everything = captured.join('\n');
    const forbidden = [
      SECRET,
      Buffer.from(`${CLIENT_ID}:${SECRET}`).toString('base64'),
      encodeURIComponent(SECRET),
      new URLSearchParams({ s: SECRET }).toString().slice(2),
      ...REENCODED_SECRETS,
      ...running.emulator.issuedTokens,
    ];

    expect(running.emulator.issuedTokens.length).toBeGreaterThan(1);
    expect(running.logs.lines.length).toBeGreaterThan(5);
    for (const secret of forbidden) expect(everything).not.toContain(secret);
  });
});

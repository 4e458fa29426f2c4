import { afterEach, describe, expect, it } from '@jest/globals';
import { GenesysAuthError, GenesysTokenService } from 'nestjs-genesys-auth';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';

describe('GenesysTokenService against the emulator', () => {
  let running: EmulatedApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('fetches a token with Basic client credentials and a client_credentials form', async () => {
    running = await startEmulatedApp();
    const token = await running.app.get(GenesysTokenService).getToken();

    expect(token.accessToken).toBe(running.emulator.lastIssuedToken);
    const [request] = running.emulator.tokenRequests;
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from('emulator-client-id:emulator-client-secret').toString('base64')}`);
    expect(new URLSearchParams(request.body).get('grant_type')).toBe('client_credentials');
  });

  it('shares one token request among 1000 concurrent cold callers', async () => {
    running = await startEmulatedApp();
    const tokens = running.app.get(GenesysTokenService);

    const results = await Promise.all(Array.from({ length: 1000 }, () => tokens.getAccessToken()));

    expect(new Set(results).size).toBe(1);
    expect(running.emulator.stats.tokenRequests).toBe(1);
  });

  it('throws a typed invalid_client error for a bad secret without retrying', async () => {
    running = await startEmulatedApp({ clientSecret: 'wrong-secret-value' });
    const error = await running.app.get(GenesysTokenService).getToken().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GenesysAuthError);
    expect(error).toMatchObject({ code: 'invalid_client', status: 400, genesysError: 'invalid_client' });
    expect(running.emulator.stats.tokenRequests).toBe(1);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { GenesysAuthError, GenesysTokenService } from 'nestjs-genesys-auth';
import type { EmulatorFault } from 'nestjs-genesys-auth/testing';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';

const printableHeaderValue = fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,30}$/);

const tokenLikeBody = fc.record(
  {
    access_token: fc.oneof(fc.string(), fc.constant(''), fc.integer(), fc.constant(null), fc.stringMatching(/^[\x21-\x7e]{1,40}$/)),
    token_type: fc.oneof(fc.constant('bearer'), fc.constant('Bearer'), fc.string()),
    expires_in: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.constant('86400')),
    error: fc.oneof(fc.constant('invalid_client'), fc.constant('invalid_request'), fc.string()),
    error_description: fc.oneof(fc.constant('rate limit exceeded; slow down'), fc.string()),
    scope: fc.string(),
  },
  { requiredKeys: [] },
);

const anyTokenResponse: fc.Arbitrary<EmulatorFault> = fc.record({
  status: fc.oneof(fc.constantFrom(200, 400, 401, 403, 408, 429, 500, 502, 503), fc.integer({ min: 200, max: 599 })),
  headers: fc.record(
    {
      'Retry-After': fc.oneof(printableHeaderValue, fc.integer({ min: -5, max: 5 }).map(String)),
      'Content-Type': fc.constantFrom('application/json', 'text/html', 'text/plain', 'application/octet-stream'),
    },
    { requiredKeys: [] },
  ),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    fc.string({ maxLength: 300 }),
    tokenLikeBody,
    fc.jsonValue({ maxDepth: 3 }),
  ),
});

describe('arbitrary token endpoint responses (fast-check)', () => {
  let running: EmulatedApp;
  let tokens: GenesysTokenService;

  beforeAll(async () => {
    // Long backoffs: the background retry must not steal the next run's scripted response.
    running = await startEmulatedApp({ retry: { maxAttempts: 1, initialDelayMs: 600_000, maxDelayMs: 600_000 } });
    tokens = running.app.get(GenesysTokenService);
  });
  afterAll(() => running.close());

  it('yield either a usable token or a GenesysAuthError, never anything else', async () => {
    await fc.assert(
      fc.asyncProperty(anyTokenResponse, async (response) => {
        running.emulator.inject('token', response, 1);
        const outcome = await tokens.refresh().then(
          (token) => ({ token }),
          (error: unknown) => ({ error }),
        );
        if ('token' in outcome) {
          expect(outcome.token.accessToken).toMatch(/^[\x21-\x7e]+$/);
          expect(outcome.token.expiresAt.getTime()).toBeGreaterThan(outcome.token.obtainedAt.getTime());
          expect(await tokens.getAccessToken()).toBe(outcome.token.accessToken);
        } else {
          expect(outcome.error).toBeInstanceOf(GenesysAuthError);
          expect((outcome.error as GenesysAuthError).message).not.toContain(running.emulator.clientSecret);
        }
      }),
      { numRuns: 300 },
    );
  });
});

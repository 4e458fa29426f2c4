import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  GenesysAuthModule,
  GenesysHttpService,
  GenesysTokenService,
  MemoryTokenStore,
  getGenesysHttpServiceToken,
  getGenesysTokenServiceToken,
} from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { FAST_RETRY, sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { REDIS_URL, redisAvailable } from './support/redis.js';
import { keyPrefix } from './support/replica.js';
import { SilentStore } from './support/silent-store.js';

const redisUp = await redisAvailable();

// Where a shared token store meets the token's lifecycle: a token the store still holds may be one a
// revocation already refused, and must never earn a caller a 401 while a valid token can be had; a
// slow token endpoint must not turn the replicas' one refresh into one each.

const ORG_ME = '/api/v2/organizations/me';
const statusOf = (pending: Promise<{ status: number }>) =>
  pending.then(
    (response) => response.status,
    (error: { response?: { status?: number }; message: string }) => error.response?.status ?? error.message,
  );

describe('a shared store that still holds a token a revocation refused', () => {
  let running: EmulatedApp | undefined;
  let app: INestApplicationContext | undefined;
  let emulator: GenesysCloudEmulator | undefined;
  afterEach(async () => {
    await running?.close();
    await app?.close();
    await emulator?.close();
    running = app = emulator = undefined;
  });

  it('after a store outage, a revocation renews from the token endpoint instead of taking back the older token still stored: the caller gets 200', async () => {
    const store = new SilentStore();
    running = await startEmulatedApp({ tokenStore: store, unauthorizedRenewalIntervalMs: 300 });
    const genesys = running.app.get(GenesysHttpService);
    const tokens = running.app.get(GenesysTokenService);
    await genesys.axiosRef.get(ORG_ME); // token A, stored
    const stored = tokens.peekAccessToken();
    store.silent = true;
    running.emulator.revokeAllTokens();
    await genesys.axiosRef.get(ORG_ME); // renewed alone: token B, which the silent store never got
    store.silent = false;
    await sleep(1_200); // the store is asked again once a second
    await genesys.axiosRef.get(ORG_ME);
    await sleep(400); // past unauthorizedRenewalIntervalMs

    running.emulator.revokeAllTokens();
    const status = await statusOf(genesys.axiosRef.get(ORG_ME));

    expect(status).toBe(200);
    expect(tokens.peekAccessToken()).not.toBe(stored);
    expect(tokens.getState().status).toBe('valid');
  }, 20_000);

  it('a token taken from the store that the same revocation refused is renewed once more, from the token endpoint: the caller gets 200', async () => {
    emulator = await GenesysCloudEmulator.start({ apiRateLimit: false });
    const tokenStore = new MemoryTokenStore();
    const registration = (name: string) =>
      GenesysAuthModule.forRoot({ ...emulator!.moduleOptions(), name, tokenStore, fetchTokenOnStartup: false, retry: FAST_RETRY });
    const moduleRef = await Test.createTestingModule({ imports: [registration('first'), registration('second')] }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();
    const [first, second] = ['first', 'second'].map((name) => app!.get<GenesysHttpService>(getGenesysHttpServiceToken(name)));
    await Promise.all([first.axiosRef.get(ORG_ME), second.axiosRef.get(ORG_ME)]); // both on token A
    emulator.revokeAllTokens();
    await second.axiosRef.get(ORG_ME); // the second renews: token B, stored
    emulator.revokeAllTokens(); // B is refused too, before the first ever used it

    const status = await statusOf(first.axiosRef.get(ORG_ME)); // A refused, B taken from the store and refused

    expect(status).toBe(200);
    expect(app.get<GenesysTokenService>(getGenesysTokenServiceToken('first')).getState().status).toBe('valid');
    expect(emulator.stats.tokenRequests).toBe(3); // A, B, and the first's own renewal
  });
});

describe('the refresh lock of a shared store', () => {
  let app: INestApplicationContext | undefined;
  let emulator: GenesysCloudEmulator | undefined;
  afterEach(async () => {
    await app?.close();
    await emulator?.close();
    app = emulator = undefined;
  });

  it('is held through the retries of a slow token endpoint: four replicas waiting on it make the holder\'s 3 attempts, not attempts of their own', async () => {
    emulator = await GenesysCloudEmulator.start();
    emulator.inject('token', { delayMs: 450 }, 2); // two attempts time out, the third is answered
    const tokenStore = new MemoryTokenStore();
    const names = ['one', 'two', 'three', 'four'];
    const registration = (name: string) =>
      GenesysAuthModule.forRoot({
        ...emulator!.moduleOptions(),
        name,
        tokenStore,
        fetchTokenOnStartup: false,
        tokenRequestTimeoutMs: 300,
        retry: { maxAttempts: 3, initialDelayMs: 2_500, maxDelayMs: 2_500 }, // a holder's run (at least 3.1 s) outlasts its 1.3 s lock, and twice that
      });
    const moduleRef = await Test.createTestingModule({ imports: names.map(registration) }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();

    const tokens = await Promise.all(names.map((name) => app!.get<GenesysTokenService>(getGenesysTokenServiceToken(name)).getAccessToken()));

    expect(emulator.stats.tokenRequests).toBe(3);
    expect(new Set(tokens).size).toBe(1);
  }, 20_000);

  (redisUp ? it : it.skip)('is released in Redis as its holder closes while waiting to retry: a replica waiting on it has a token within a second, not when it lapses', async () => {
    emulator = await GenesysCloudEmulator.start();
    emulator.inject('token', { status: 503 }, 1); // the holder's first attempt fails: it waits 3–6 s to retry, its lock renewed for that
    const prefix = keyPrefix();
    const replica = async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          GenesysAuthModule.forRoot({
            ...emulator!.moduleOptions(),
            fetchTokenOnStartup: false,
            tokenStore: new RedisTokenStore({ url: REDIS_URL, keyPrefix: prefix }),
            retry: { maxAttempts: 3, initialDelayMs: 6_000, maxDelayMs: 6_000 },
          }),
        ],
      }).compile();
      moduleRef.useLogger(false);
      return moduleRef.init();
    };
    const holder = await replica();
    app = await replica();
    void holder.get(GenesysTokenService).getAccessToken().catch(() => undefined);
    await sleep(300); // the holder's attempt has failed; it waits to retry
    const waiting = app.get(GenesysTokenService).getAccessToken();
    await sleep(300);

    await holder.close();
    const closedAt = Date.now();
    await waiting;

    expect(Date.now() - closedAt).toBeLessThan(1_000);
    expect(emulator.stats.tokenRequests).toBe(2);
  }, 20_000);
});

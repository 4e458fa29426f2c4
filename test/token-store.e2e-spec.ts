import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  GenesysAuthModule,
  getGenesysHttpServiceToken,
  getGenesysTokenServiceToken,
  MemoryTokenStore,
  type GenesysAuthModuleOptions,
  type GenesysHttpService,
  type GenesysTokenService,
} from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';

describe('MemoryTokenStore', () => {
  let app: INestApplicationContext | undefined;
  let emulator: GenesysCloudEmulator | undefined;
  afterEach(async () => {
    await app?.close();
    await emulator?.close();
  });

  it('lets two registrations of one OAuth client in one process share a token: 1 token request', async () => {
    emulator = await GenesysCloudEmulator.start();
    const tokenStore = new MemoryTokenStore();
    const registration = (name: string) => GenesysAuthModule.forRoot({ ...emulator!.moduleOptions(), name, tokenStore, fetchTokenOnStartup: false });
    const moduleRef = await Test.createTestingModule({ imports: [registration('reports'), registration('sync')] }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();

    const [reports, sync] = await Promise.all(
      ['reports', 'sync'].map((name) => app!.get<GenesysTokenService>(getGenesysTokenServiceToken(name)).getAccessToken()),
    );

    expect(reports).toBe(sync);
    expect(emulator.stats.tokenRequests).toBe(1);
  });

  it('keeps a cool-down another registration stored within this one’s rateLimit.maxCoolDownMs', async () => {
    emulator = await GenesysCloudEmulator.start({ apiRateLimit: false });
    const tokenStore = new MemoryTokenStore();
    const registration = (name: string, rateLimit: GenesysAuthModuleOptions['rateLimit']) =>
      GenesysAuthModule.forRoot({ ...emulator!.moduleOptions(), name, tokenStore, fetchTokenOnStartup: false, rateLimit });
    const moduleRef = await Test.createTestingModule({
      imports: [registration('patient', { maxWaitMs: 1_000, maxCoolDownMs: 3_600_000 }), registration('bounded', { maxWaitMs: 5_000, maxCoolDownMs: 300 })],
    }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();
    const http = (name: string) => app!.get<GenesysHttpService>(getGenesysHttpServiceToken(name)).axiosRef;
    await http('patient').get('/api/v2/organizations/me');
    emulator.rateLimitApi(86_400, 1);
    await http('patient').get('/api/v2/organizations/me').catch(() => undefined); // stores a cool-down of an hour
    const started = Date.now();

    await expect(http('bounded').get('/api/v2/organizations/me')).resolves.toMatchObject({ status: 200 });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('counts budget claims per token and refuses past the limit, saying when to try again', async () => {
    const store = new MemoryTokenStore();
    const first = await store.claimBudget('budget:a', 1, 1_000, 5_000);
    const second = await store.claimBudget('budget:a', 1, 1_000, 5_000);

    expect(first.granted).toBe(true);
    expect(second).toMatchObject({ granted: false, retryInMs: expect.any(Number) });
    expect(await store.claimBudget('budget:b', 1, 1_000, 5_000)).toMatchObject({ granted: true });
  });
});

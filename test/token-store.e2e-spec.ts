import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GenesysAuthModule, getGenesysTokenServiceToken, MemoryTokenStore, type GenesysTokenService } from 'nestjs-genesys-auth';
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

  it('counts budget claims per token and refuses past the limit, saying when to try again', async () => {
    const store = new MemoryTokenStore();
    const first = await store.claimBudget('budget:a', 1, 1_000, 5_000);
    const second = await store.claimBudget('budget:a', 1, 1_000, 5_000);

    expect(first.granted).toBe(true);
    expect(second).toMatchObject({ granted: false, retryInMs: expect.any(Number) });
    expect(await store.claimBudget('budget:b', 1, 1_000, 5_000)).toMatchObject({ granted: true });
  });
});

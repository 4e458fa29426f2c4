import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { GenesysAuthModule, GenesysClientRegistry, type GenesysClientRegistryModuleOptions } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator, type EmulatedClient } from 'nestjs-genesys-auth/testing';
import { sleep } from './support/app.js';

const CLIENT: EmulatedClient = { clientId: 'client-1', clientSecret: 'secret-of-client-1-0123456789', orgName: 'Org 1' };
const CREDENTIALS = { clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret };
const ORG_ME = '/api/v2/organizations/me';
const NEVER = () => new Promise<never>(() => undefined);

/** How `promise` settles within `ms` of real time: the error it rejects with, 'resolved', or 'still pending'. */
const outcomeWithin = (promise: Promise<unknown>, ms: number): Promise<unknown> =>
  Promise.race([
    promise.then(
      () => 'resolved',
      (error: unknown) => error,
    ),
    sleep(ms).then(() => 'still pending'),
  ]);

describe('a registry that resolves the options of its keys', () => {
  let emulator: GenesysCloudEmulator;
  let app: INestApplicationContext | undefined;
  beforeAll(async () => {
    emulator = await GenesysCloudEmulator.start({ clients: [CLIENT], apiRateLimit: false });
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    emulator.resetStats();
  });
  afterAll(() => emulator.close());

  async function bootRegistry(options: GenesysClientRegistryModuleOptions): Promise<GenesysClientRegistry> {
    const moduleRef = await Test.createTestingModule({
      imports: [GenesysAuthModule.forRegistry({ defaults: { loginBaseUrl: emulator.url, apiBaseUrl: emulator.url, fetchTokenOnStartup: false }, ...options })],
    }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();
    return app.get(GenesysClientRegistry);
  }

  it('fails a get with unavailable after resolveTimeoutMs when resolveOptions never answers, naming the key', async () => {
    const registry = await bootRegistry({ resolveTimeoutMs: 150, resolveOptions: NEVER });
    const started = Date.now();

    const error = await outcomeWithin(registry.get('tenant-1'), 2_000);

    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'unavailable', message: expect.stringContaining('"tenant-1"') });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('asks resolveOptions again after it timed out, so the key works once the resolver recovers', async () => {
    let calls = 0;
    const registry = await bootRegistry({ resolveTimeoutMs: 100, resolveOptions: () => (++calls === 1 ? NEVER() : CREDENTIALS) });
    await outcomeWithin(registry.get('tenant-1'), 2_000);

    const client = await Promise.race([registry.get('tenant-1'), sleep(2_000).then(() => undefined)]);

    expect(calls).toBe(2);
    expect((await client?.http.axiosRef.get<{ name: string }>(ORG_ME))?.data.name).toBe('Org 1');
  });

  it('fails with unavailable naming the key when resolveOptions throws, keeping the thrown error as cause and out of the message', async () => {
    const thrown = new Error('tenant database unreachable: password=db-secret-991');
    const registry = await bootRegistry({
      resolveOptions: () => {
        throw thrown;
      },
    });

    const error = await outcomeWithin(registry.get('tenant-1'), 2_000);

    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'unavailable', message: expect.stringContaining('"tenant-1"'), cause: thrown });
    expect((error as Error).message).not.toContain('db-secret-991');
  });

  it('fails with invalid_options naming the key when resolveOptions answers with something that is not an options object', async () => {
    const registry = await bootRegistry({ resolveOptions: () => undefined as never });

    const error = await outcomeWithin(registry.get('tenant-1'), 2_000);

    expect(error).toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/no options object.*"tenant-1"/) });
  });

  it('fails a get still waiting for resolveOptions with shutdown as soon as the app closes, and creates no client from a late answer', async () => {
    let answer: (options: typeof CREDENTIALS) => void = () => undefined;
    const registry = await bootRegistry({ resolveTimeoutMs: 600_000, resolveOptions: () => new Promise((resolve) => (answer = resolve)) });
    const pending = registry.get('tenant-1');
    await sleep(20);

    const closing = await outcomeWithin(app!.close(), 1_000);
    app = undefined;
    const error = await outcomeWithin(pending, 100);
    answer(CREDENTIALS);
    await sleep(50);

    expect(closing).toBe('resolved');
    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'shutdown' });
    expect(registry.size).toBe(0);
    expect(emulator.stats.tokenRequests).toBe(0);
  });

  it("asks resolveOptions again after the token endpoint refused a key's credentials, so a rotated secret takes effect without a restart", async () => {
    let secret = 'a-secret-rotated-away-0123456789';
    let calls = 0;
    const registry = await bootRegistry({ resolveOptions: () => (calls++, { clientId: CLIENT.clientId, clientSecret: secret }) });
    const refused = await (await registry.get('tenant-1')).http.axiosRef.get(ORG_ME).catch((e: unknown) => e);
    secret = CLIENT.clientSecret;

    const client = await registry.get('tenant-1');

    expect(refused).toMatchObject({ name: 'GenesysAuthError', code: 'invalid_client' });
    expect(calls).toBe(2);
    expect((await client.http.axiosRef.get<{ name: string }>(ORG_ME)).data.name).toBe('Org 1');
    expect(registry.size).toBe(1);
  });

  it('asks resolveOptions once per refusal and keeps the client held when it answers the same options', async () => {
    let calls = 0;
    const registry = await bootRegistry({ resolveOptions: () => (calls++, { clientId: CLIENT.clientId, clientSecret: 'a-secret-never-accepted-012345' }) });
    const first = await registry.get('tenant-1');
    await first.http.axiosRef.get(ORG_ME).catch(() => undefined);

    const again = await Promise.all(Array.from({ length: 10 }, () => registry.get('tenant-1')));

    expect(calls).toBe(2);
    expect(again.every((client) => client === first)).toBe(true);
  });

  it('resolves a refused key again at most once per retry.maxDelayMs, however often the resolver answers other refused credentials', async () => {
    let calls = 0;
    const registry = await bootRegistry({ resolveOptions: () => ({ clientId: CLIENT.clientId, clientSecret: `a-wrong-secret-${++calls}-0123456789` }) });
    const until = Date.now() + 1_000;

    while (Date.now() < until) await (await registry.get('tenant-1')).tokens.getAccessToken().catch(() => undefined);

    expect(calls).toBe(2); // the first client's, then once after its refusal; the next only 30 s later
    expect(emulator.stats.tokenRequests).toBe(2);
  });

  it('fails a get still waiting for resolveOptions with shutdown when its key is removed, and creates no client from the answer', async () => {
    let answer: (options: typeof CREDENTIALS) => void = () => undefined;
    const registry = await bootRegistry({ resolveOptions: () => new Promise((resolve) => (answer = resolve)) });
    const pending = registry.get('tenant-1');
    await sleep(20);

    const removed = await registry.remove('tenant-1');
    answer(CREDENTIALS);
    const error = await outcomeWithin(pending, 1_000);

    expect(removed).toBe(true);
    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'shutdown', message: expect.stringContaining('"tenant-1" was removed') });
    expect(registry.keys()).toEqual([]);
    expect(emulator.stats.tokenRequests).toBe(0);
  });

  it('fails with invalid_options naming the key when reading the options resolveOptions answered throws, keeping the thrown error as cause and out of the message', async () => {
    const thrown = new Error('vault sealed: token=vault-secret-4471');
    const registry = await bootRegistry({
      resolveOptions: () => ({
        clientId: CLIENT.clientId,
        get clientSecret(): string {
          throw thrown;
        },
      }),
    });

    const error = await outcomeWithin(registry.get('tenant-1'), 2_000);

    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'invalid_options', message: expect.stringContaining('"tenant-1"'), cause: thrown });
    expect((error as Error).message).not.toContain('vault-secret-4471');
  });

  it('fails with invalid_options naming the key when telemetryClientName throws, keeping the thrown error as cause', async () => {
    const thrown = new Error('no tier for this tenant');
    const registry = await bootRegistry({
      resolveOptions: () => CREDENTIALS,
      telemetryClientName: () => {
        throw thrown;
      },
    });

    const error = await outcomeWithin(registry.get('tenant-1'), 2_000);

    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'invalid_options', message: expect.stringMatching(/telemetryClientName.*"tenant-1"/), cause: thrown });
    expect(registry.size).toBe(0);
  });

  it('fails with invalid_options when telemetryClientName answers something that is not a label', async () => {
    const registry = await bootRegistry({ resolveOptions: () => CREDENTIALS, telemetryClientName: () => 'gold tier\n' });

    const error = await outcomeWithin(registry.get('tenant-1'), 2_000);

    expect(error).toMatchObject({ name: 'GenesysAuthError', code: 'invalid_options', message: expect.stringContaining('telemetryClientName must answer') });
  });

  it('refuses a resolveTimeoutMs that is not a whole number from 1 to 600000', async () => {
    const failure = await bootRegistry({ resolveTimeoutMs: 0 }).then(
      () => new Error('expected start-up to fail'),
      (error: unknown) => error,
    );

    expect(failure).toMatchObject({ code: 'invalid_options', message: expect.stringContaining('"resolveTimeoutMs"') });
  });
});

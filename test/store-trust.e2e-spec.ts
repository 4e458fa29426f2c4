import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createClient, type RedisClientType } from 'redis';
import {
  GenesysAuthError,
  GenesysAuthModule,
  getGenesysHttpServiceToken,
  MemoryTokenStore,
  type GenesysAuthModuleOptions,
  type GenesysHttpService,
  type GenesysTokenStore,
  type StoredToken,
} from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { CapturingLogger, FAST_RETRY, sleep } from './support/app.js';
import { REDIS_URL, redisAvailable } from './support/redis.js';

const redisUp = await redisAvailable();
const ORG_ME = '/api/v2/organizations/me';
const ENCRYPTION_KEY = 'store-trust-test-key-32-chars-ok';
const OTHER_ENCRYPTION_KEY = 'another-replica-key-32-chars-ok!';
/** Every planted access token contains this, so the logs can be searched for it. */
const PLANTED = 'planted-token';
const PLANTED_NUMBER = 918_273_645;
const expectClient = (clientId: string) => ({ headers: { 'x-emulator-expect-client': clientId } });

/** Storage that several apps or replicas share, and that the test can write to as anyone with access could. */
interface SharedStorage {
  /** A store on this storage, as one more app or replica would open it. */
  open(options?: { encryptionKey?: string }): GenesysTokenStore;
  /** The keys tokens are stored under so far. */
  tokenKeys(): Promise<string[]>;
  /** Puts `value` under `key` as it is (a string as raw text, where the storage keeps text). */
  write(key: string, value: unknown): Promise<void>;
  /** The raw value under `key`. */
  read(key: string): Promise<unknown>;
}

/** A MemoryTokenStore that remembers the keys it stored tokens under. */
class KeyRecordingMemoryStore extends MemoryTokenStore {
  readonly keys = new Set<string>();
  override async setToken(key: string, token: StoredToken): Promise<void> {
    this.keys.add(key);
    await super.setToken(key, token);
  }
}

function memoryStorage(): SharedStorage {
  const store = new KeyRecordingMemoryStore();
  return {
    open: () => store,
    tokenKeys: async () => [...store.keys],
    write: (key, value) => store.setToken(key, value as StoredToken),
    read: (key) => store.getToken(key),
  };
}

let redis: RedisClientType | undefined;
const redisClient = async () => (redis ??= (await createClient({ url: REDIS_URL }).connect()) as RedisClientType);
afterAll(async () => {
  await redis?.close();
});

/** A fresh key prefix in the test Redis; `encryptionKey` is the default of the stores it opens. */
function redisStorage(encryptionKey?: string): SharedStorage {
  const keyPrefix = `store-trust-${randomUUID()}:`;
  return {
    open: (options = { encryptionKey }) => new RedisTokenStore({ url: REDIS_URL, keyPrefix, ...options }),
    tokenKeys: async () => (await redisClient()).keys(`${keyPrefix}{token:*`),
    write: async (key, value) => void (await (await redisClient()).set(key, typeof value === 'string' ? value : JSON.stringify(value), { PX: 60_000 })),
    read: async (key) => (await redisClient()).get(key),
  };
}

const redisStorages: [string, () => SharedStorage][] = redisUp
  ? [
      ['RedisTokenStore', () => redisStorage()],
      ['RedisTokenStore with encryptionKey', () => redisStorage(ENCRYPTION_KEY)],
    ]
  : [];

let emulator: GenesysCloudEmulator | undefined;
const apps: INestApplicationContext[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await emulator?.close();
  emulator = undefined;
});

/** An app with one registration per entry of `registrations` (its name → options on top of the emulator's first client). */
async function startApp(registrations: Record<string, Partial<GenesysAuthModuleOptions>>) {
  const logs = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: Object.entries(registrations).map(([name, options]) =>
      GenesysAuthModule.forRoot({ ...emulator!.moduleOptions(), fetchTokenOnStartup: false, retry: FAST_RETRY, name, ...options }),
    ),
  }).compile();
  moduleRef.useLogger(logs);
  const app = await moduleRef.init();
  apps.push(app);
  return {
    logs,
    http: (name: string) => app.get<GenesysHttpService>(getGenesysHttpServiceToken(name)).axiosRef,
    warnings: () => logs.lines.filter((line) => line.startsWith('warn')),
    close: async () => {
      apps.splice(apps.indexOf(app), 1);
      await app.close();
    },
  };
}

/** Lets one app fetch and store a token of `clientId`, and returns the key it is stored under. */
async function storedKeyOf(storage: SharedStorage, clientId: string, options?: { encryptionKey?: string }): Promise<string> {
  const before = await storage.tokenKeys();
  const first = await startApp({ first: { ...emulator!.moduleOptions(clientId), tokenStore: storage.open(options) } });
  await first.http('first').get(ORG_ME);
  await first.close();
  const added = (await storage.tokenKeys()).filter((key) => !before.includes(key));
  expect(added).toHaveLength(1);
  return added[0];
}

describe.each<[string, () => SharedStorage]>([['MemoryTokenStore', memoryStorage], ...redisStorages])('%s shared by registrations of one client id', (_, storageOf) => {
  it('gives a stored token only to the registration with the right secret: a wrong secret gets invalid_client and makes no API call', async () => {
    emulator = await GenesysCloudEmulator.start();
    const storage = storageOf();
    const { http } = await startApp({
      owner: { tokenStore: storage.open() },
      intruder: { clientSecret: 'a-wrong-secret-0123456789', tokenStore: storage.open() },
    });
    await http('owner').get(ORG_ME);
    const ownerToken = emulator.lastIssuedToken!;
    const apiRequestsBefore = emulator.stats.apiRequests;

    const refusal = await http('intruder').get(ORG_ME).catch((error: unknown) => error);

    expect(refusal).toBeInstanceOf(GenesysAuthError);
    expect(refusal).toMatchObject({ code: 'invalid_client' });
    expect(emulator.stats.tokenRequests).toBe(2);
    expect(emulator.stats.apiRequests).toBe(apiRequestsBefore);
    expect(emulator.requestsPerToken().get(ownerToken)).toBe(1);
  });
});

describe.each<[string, () => SharedStorage]>([['MemoryTokenStore', memoryStorage], ...redisStorages.slice(0, 1)])('a value read from %s', (_, storageOf) => {
  const valid = () => ({ accessToken: `${PLANTED}-${randomUUID()}`, tokenType: 'bearer', obtainedAt: Date.now(), expiresAt: Date.now() + 3_600_000 });

  it.each<[string, () => unknown]>([
    ['a numeric access token', () => ({ ...valid(), accessToken: PLANTED_NUMBER })],
    ['an access token of 200 KB', () => ({ ...valid(), accessToken: PLANTED.padEnd(200_000, 'x') })],
    ['an expiry in the year 275760', () => ({ ...valid(), expiresAt: 8.64e15 })],
    ['an obtainedAt an hour in the future', () => ({ ...valid(), obtainedAt: Date.now() + 3_600_000, expiresAt: Date.now() + 7_200_000 })],
    ['text that is not JSON', () => `{"accessToken":"${PLANTED}`],
  ])('with %s is ignored with one warning that shows no token, and one new token serves every call', async (_, plantedValue) => {
    emulator = await GenesysCloudEmulator.start();
    const storage = storageOf();
    const key = await storedKeyOf(storage, emulator.clientId);
    await storage.write(key, plantedValue());
    emulator.resetStats();

    const { http, logs, warnings } = await startApp({ app: { tokenStore: storage.open() } });
    const answers = await Promise.all(Array.from({ length: 5 }, () => http('app').get(ORG_ME).then((response) => response.status)));

    expect(answers).toEqual([200, 200, 200, 200, 200]);
    expect(emulator.stats.tokenRequests).toBe(1);
    expect(emulator.stats.unauthorized).toBe(0);
    expect(warnings()).toEqual([expect.stringContaining('stored token')]);
    const logged = logs.lines.join('\n');
    for (const token of [PLANTED, String(PLANTED_NUMBER), ...emulator.issuedTokens]) expect(logged).not.toContain(token);
  });
});

(redisUp ? describe : describe.skip)('RedisTokenStore with encryptionKey', () => {
  const CLIENTS = ['client-a', 'client-b'].map((clientId) => ({ clientId, clientSecret: `secret-of-${clientId}-0123456789`, orgName: `Org of ${clientId}` }));

  it("does not adopt another client's value copied under a client's key", async () => {
    emulator = await GenesysCloudEmulator.start({ clients: CLIENTS });
    const storage = redisStorage(ENCRYPTION_KEY);
    const keyOfA = await storedKeyOf(storage, 'client-a');
    const keyOfB = await storedKeyOf(storage, 'client-b');
    await storage.write(keyOfB, await storage.read(keyOfA));
    emulator.resetStats();

    const { http } = await startApp({ b: { ...emulator.moduleOptions('client-b'), tokenStore: storage.open() } });
    const answer = await http('b').get(ORG_ME, expectClient('client-b'));

    expect(answer.status).toBe(200);
    expect(emulator.stats.clientMismatches).toBe(0);
    expect(emulator.stats.tokenRequests).toBe(1);
  });

  it.each<[string, string | undefined, string | undefined]>([
    ['another encryptionKey', ENCRYPTION_KEY, OTHER_ENCRYPTION_KEY],
    ['an encryptionKey while the others have none', undefined, ENCRYPTION_KEY],
    ['no encryptionKey while the others have one', ENCRYPTION_KEY, undefined],
  ])('warns once, showing no token, when a replica with %s cannot read what the others stored', async (_, writerKey, readerKey) => {
    emulator = await GenesysCloudEmulator.start();
    const storage = redisStorage();
    await storedKeyOf(storage, emulator.clientId, { encryptionKey: writerKey });
    emulator.resetStats();

    const { http, logs, warnings } = await startApp({ replica: { tokenStore: storage.open({ encryptionKey: readerKey }) } });
    for (let call = 0; call < 3; call++) await http('replica').get(ORG_ME);

    expect(warnings()).toEqual([expect.stringContaining('encryptionKey')]);
    expect(emulator.stats.tokenRequests).toBe(1);
    for (const token of emulator.issuedTokens) expect(logs.lines.join('\n')).not.toContain(token);
  });
});

describe.each<[string, () => GenesysTokenStore]>([
  ['MemoryTokenStore', () => new MemoryTokenStore()],
  ...(redisUp ? [['RedisTokenStore', () => redisStorage().open()] as [string, () => GenesysTokenStore]] : []),
])('%s budget', (_, storeOf) => {
  it('frees a claim settled with counted: false at once (the API did not count that request)', async () => {
    const store = storeOf();
    const claim = await store.claimBudget('budget:uncounted', 1, 60_000, 5_000);
    if (!claim.granted) throw new Error('the first claim of an empty budget should be granted');

    await store.settleBudget('budget:uncounted', claim.claimId, false);
    const next = await store.claimBudget('budget:uncounted', 1, 60_000, 5_000);
    await store.close?.();

    expect(next.granted).toBe(true);
  });
});

describe.each<[string, () => GenesysTokenStore]>([
  ['MemoryTokenStore', () => new MemoryTokenStore()],
  ...(redisUp ? [['RedisTokenStore', () => redisStorage().open()] as [string, () => GenesysTokenStore]] : []),
])('%s refresh lock', (_, storeOf) => {
  it('is renewed when its owner takes it again, and refused to another owner meanwhile', async () => {
    const store = storeOf();
    const key = `lock:${randomUUID()}`;
    await store.acquireLock(key, 'holder', 2_000);
    await sleep(1_200);

    const renewed = await store.acquireLock(key, 'holder', 2_000);
    await sleep(1_200); // past the first ttl, within the renewed one
    const other = await store.acquireLock(key, 'other', 2_000);
    await store.close?.();

    expect(renewed).toBe(true);
    expect(other).toBe(false);
  });
});

(redisUp ? describe : describe.skip)('RedisTokenStore keys holding a value of another type (a stray or hostile writer)', () => {
  const keyPrefix = `store-trust-${randomUUID()}:`;
  const plant = async (...keys: string[]) => {
    const redis = await redisClient();
    for (const key of keys) await redis.multi().del(`${keyPrefix}${key}`).hSet(`${keyPrefix}${key}`, 'planted', '1').pExpire(`${keyPrefix}${key}`, 60_000).exec();
  };

  it('answer as missing keys: a claim is granted, a cool-down kept, the lock taken and released, no token read', async () => {
    const store = new RedisTokenStore({ url: REDIS_URL, keyPrefix });
    await plant('{budget:b}', '{budget:b}:cooldown', '{budget:b}:replicas', '{lock:l}', '{token:t}');

    const claim = await store.claimBudget('budget:b', 10, 60_000, 5_000);
    await plant('{budget:b}', '{budget:b}:cooldown');
    await store.settleBudget('budget:b', 'some-claim');
    await store.coolDown('budget:b', 60_000);
    const cooling = await store.claimBudget('budget:b', 10, 60_000, 5_000);
    const locked = await store.acquireLock('lock:l', 'holder', 5_000);
    await plant('{lock:l}');
    await store.releaseLock('lock:l', 'holder');
    const token = await store.getToken('token:t');
    await store.close();

    expect(claim.granted).toBe(true);
    expect(cooling).toMatchObject({ granted: false, coolingDown: true });
    expect(locked).toBe(true);
    expect(token).toBeUndefined();
  });
});

import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { GenesysHttpService, GenesysTokenService } from 'nestjs-genesys-auth';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { GenesysAuthHealthIndicator } from 'nestjs-genesys-auth/health';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { compileForNode, startChild, type ChildApp } from './support/child-process.js';
import { freeLoopbackPort } from './support/loopback-server.js';
import { REDIS_URL, redisAvailable, startRedisServer } from './support/redis.js';
import { REPLICA_FIXTURE, eventsOf, keyPrefix } from './support/replica.js';

const available = await redisAvailable();

@Module({ imports: [TerminusModule], providers: [GenesysAuthHealthIndicator], exports: [GenesysAuthHealthIndicator] })
class HealthModule {}

(available ? describe : describe.skip)('tokens and budgets shared through Redis', () => {
  let script: string;
  let emulator: GenesysCloudEmulator;
  let replicas: ChildApp[] = [];

  beforeAll(() => {
    script = compileForNode(REPLICA_FIXTURE);
  }, 60_000);
  afterEach(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    replicas = [];
    await emulator?.close();
  });

  const startReplicas = (count: number, env: NodeJS.ProcessEnv) =>
    (replicas = Array.from({ length: count }, () => startChild(script, { REDIS_URL, EMULATOR_URL: emulator.url, ...env })));

  it('10 replicas cold-started together make 1 token request', async () => {
    emulator = await GenesysCloudEmulator.start();
    startReplicas(10, { KEY_PREFIX: keyPrefix() });

    await Promise.all(replicas.map((replica) => replica.waitFor(/"ready":true/, 30_000)));

    expect(emulator.stats.tokenRequests).toBe(1);
  }, 60_000);

  it('replicas refresh a shared token once per lifetime, not once each', async () => {
    emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: 4 });
    startReplicas(5, { KEY_PREFIX: keyPrefix() });
    await Promise.all(replicas.map((replica) => replica.waitFor(/"ready":true/, 30_000)));
    const afterStart = emulator.stats.tokenRequests;

    await sleep(7_000); // about two scheduled refreshes (at 70-80 % of 4 s)

    expect(afterStart).toBe(1);
    expect(emulator.stats.tokenRequests - afterStart).toBeGreaterThanOrEqual(1);
    expect(emulator.stats.tokenRequests - afterStart).toBeLessThanOrEqual(3); // without the store: 5 per refresh
  }, 60_000);

  it('5 replicas sharing one token under twice its budget draw no 429 from the emulator', async () => {
    emulator = await GenesysCloudEmulator.start({ apiRateLimit: { requestsPerToken: 20, windowMs: 1_000 } });
    startReplicas(5, { KEY_PREFIX: keyPrefix(), BUDGET: '20', WINDOW_MS: '1000', LOAD_PER_SECOND: '8', LOAD_SECONDS: '3' });

    await Promise.all(replicas.map((replica) => replica.waitFor(/"ready":true/, 45_000)));

    const loads = replicas.map((replica) => eventsOf(replica).find((event) => event.load)!.load);
    expect(loads).toEqual(Array.from({ length: 5 }, () => ({ ok: 24, status429: 0, failed: 0 })));
    expect(emulator.stats.rateLimited).toBe(0);
    expect(emulator.stats.tokenRequests).toBe(1);
  }, 60_000);

  it('keeps every caller of 3 replicas free of errors while Redis stops and restarts, and they share tokens again after', async () => {
    emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: 3 });
    const port = await freeLoopbackPort();
    const redisUrl = `redis://127.0.0.1:${port}`;
    const outageRedis = await startRedisServer(port);
    try {
      const env = { REDIS_URL: redisUrl, EMULATOR_URL: emulator.url, KEY_PREFIX: keyPrefix(), LOAD_PER_SECOND: '10', LOAD_SECONDS: '9' };
      replicas = Array.from({ length: 3 }, () => startChild(script, env));
      await Promise.all(replicas.map((replica) => replica.waitFor(/"token":"ok"/, 30_000)));
      await sleep(1_500);
      outageRedis.kill('SIGKILL');
      await sleep(2_000);
      const restarted = await startRedisServer(port);
      // The first refresh after the restart may still be each replica's own (its client reconnecting, the store empty);
      // from the next lifetime on they share again.
      await sleep(3_000);
      const issuedOnceConverged = emulator.stats.tokensIssued;
      try {
        await Promise.all(replicas.map((replica) => replica.waitFor(/"tokenStore"/, 30_000)));
      } finally {
        restarted.kill('SIGKILL');
      }

      const finals = replicas.map((replica) => eventsOf(replica));
      expect(finals.map((events) => events.find((event) => event.load)!.load)).toEqual(Array.from({ length: 3 }, () => ({ ok: 90, status429: 0, failed: 0 })));
      expect(finals.map((events) => events.find((event) => event.tokenStore)!.tokenStore)).toEqual(['shared', 'shared', 'shared']);
      // About 2.5 s of 3 s tokens refreshed every 2.1-2.4 s: shared, 1 or 2 token requests; on their own, 3 to 6.
      expect(emulator.stats.tokensIssued - issuedOnceConverged).toBeLessThanOrEqual(2);
    } finally {
      outageRedis.kill('SIGKILL');
    }
  }, 60_000);

  it('when the replica holding the refresh lock dies, the others have a token within a few seconds', async () => {
    emulator = await GenesysCloudEmulator.start();
    emulator.inject('token', { hang: true }, 1); // the first token request never answers
    const prefix = keyPrefix();
    const [holder] = startReplicas(1, { KEY_PREFIX: prefix });
    while (emulator.stats.tokenRequests === 0) await sleep(20);
    holder.process.kill('SIGKILL');
    const started = Date.now();
    replicas.push(...Array.from({ length: 3 }, () => startChild(script, { REDIS_URL, EMULATOR_URL: emulator.url, KEY_PREFIX: prefix })));

    await Promise.all(replicas.slice(1).map((replica) => replica.waitFor(/"token":"ok"/, 15_000)));

    expect(Date.now() - started).toBeLessThan(6_000);
    expect(emulator.stats.tokensIssued).toBe(1);
  }, 60_000);
});

(available ? describe : describe.skip)('RedisTokenStore at rest and through an outage', () => {
  let running: EmulatedApp | undefined;
  let redisServer: ChildProcess | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
    redisServer?.kill('SIGKILL');
  });

  it('stores no readable token when encryptionKey is set, and the client secret never', async () => {
    const prefix = `test-${randomUUID()}:`;
    const store = new RedisTokenStore({ url: REDIS_URL, keyPrefix: prefix, encryptionKey: 'a-test-key-of-32-characters-long!' });
    running = await startEmulatedApp({ tokenStore: store });
    await running.app.get(GenesysTokenService).getToken();

    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    const values = await Promise.all(keys.map((key) => redis.get(key)));
    await redis.close();

    expect(keys.some((key) => key.includes('token:'))).toBe(true);
    for (const text of [...keys, ...values.map(String)]) {
      expect(text).not.toContain(running.emulator.lastIssuedToken);
      expect(text).not.toContain(running.emulator.clientSecret);
    }
    expect(values.find((value) => String(value).startsWith('gcm2:'))).toBeDefined();
  });

  it('opens no new connection once closed: later calls fail at once', async () => {
    const store = new RedisTokenStore({ url: REDIS_URL, keyPrefix: `test-${randomUUID()}:` });
    await store.getToken('token:any');
    await store.close();

    await expect(store.getToken('token:any')).rejects.toThrow('closed');
  });

  it('keeps callers free of errors while Redis is down, reports the store unavailable, and shares again once it is back', async () => {
    const port = await freeLoopbackPort();
    const startRedis = async () => {
      redisServer = await startRedisServer(port);
    };
    await startRedis();
    const store = new RedisTokenStore({ url: `redis://127.0.0.1:${port}` });
    running = await startEmulatedApp({ tokenStore: store, rateLimit: { requestsPerToken: 1_000, windowMs: 60_000 }, isGlobal: true } as never, {}, [HealthModule]);
    const health = running.app.get(GenesysAuthHealthIndicator);
    const genesys = running.app.get(GenesysHttpService);
    const client = running.app.get<{ tokenStore: string }>((await import('nestjs-genesys-auth')).GenesysClient);
    const failures: unknown[] = [];
    const call = () => genesys.axiosRef.get('/api/v2/organizations/me').catch((error: unknown) => void failures.push(error));

    await call();
    expect(client.tokenStore).toBe('shared');
    redisServer!.kill('SIGKILL');
    for (let index = 0; index < 20; index++) await Promise.all([call(), sleep(50)]);
    const whileDown = client.tokenStore;
    const healthWhileDown = (await health.isHealthy()).genesys;
    await startRedis();
    for (let index = 0; index < 40 && client.tokenStore !== 'shared'; index++) await Promise.all([call(), sleep(100)]);

    expect(failures).toEqual([]);
    expect(whileDown).toBe('unavailable');
    expect(healthWhileDown).toMatchObject({ status: 'up', tokenStore: 'unavailable', degraded: true });
    expect((await health.isHealthy()).genesys).toMatchObject({ status: 'up', tokenStore: 'shared' });
    expect(client.tokenStore).toBe('shared');
  }, 30_000);
});

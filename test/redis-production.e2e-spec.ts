import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, createCluster } from 'redis';
import { GenesysHttpService } from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { compileForNode, startChild, type ChildApp } from './support/child-process.js';
import { freeLoopbackPort } from './support/loopback-server.js';
import { LoopStalls } from './support/loop-stalls.js';
import { REDIS_CLUSTER_URLS, redisAvailable, redisClusterAvailable, startRedisServer } from './support/redis.js';
import { REPLICA_FIXTURE, eventsOf, keyPrefix, loadOf } from './support/replica.js';

/** Bounds on a wait are checked on the time the process could run: a stall of the whole process holds up every timer alike. */
const stalls = new LoopStalls();
afterAll(() => stalls.stop());

const available = await redisAvailable();
const clusterAvailable = await redisClusterAvailable();

let script: string;
let emulator: GenesysCloudEmulator | undefined;
let replicas: ChildApp[] = [];
let running: EmulatedApp | undefined;
let redisServer: ChildProcess | undefined;

beforeAll(() => {
  script = compileForNode(REPLICA_FIXTURE);
}, 60_000);
afterEach(async () => {
  await Promise.all(replicas.map((replica) => replica.stop()));
  replicas = [];
  await running?.close();
  running = undefined;
  await emulator?.close();
  emulator = undefined;
  redisServer?.kill('SIGKILL');
  redisServer = undefined;
});

(clusterAvailable ? describe : describe.skip)('a Redis Cluster shared by replicas', () => {
  const clusterEnv = () => ({ REDIS_CLUSTER_URLS: REDIS_CLUSTER_URLS.join(','), EMULATOR_URL: emulator!.url, KEY_PREFIX: keyPrefix() });

  it('10 replicas cold-started together make 1 token request', async () => {
    emulator = await GenesysCloudEmulator.start();
    const env = clusterEnv();
    replicas = Array.from({ length: 10 }, () => startChild(script, env));

    await Promise.all(replicas.map((replica) => replica.waitFor(/"ready":true/, 30_000)));

    expect(emulator.stats.tokenRequests).toBe(1);
  }, 60_000);

  it('5 replicas sharing one token under twice its budget draw no 429 from the emulator', async () => {
    emulator = await GenesysCloudEmulator.start({ apiRateLimit: { requestsPerToken: 20, windowMs: 1_000 } });
    const env = { ...clusterEnv(), BUDGET: '20', WINDOW_MS: '1000', LOAD_PER_SECOND: '8', LOAD_SECONDS: '3' };
    replicas = Array.from({ length: 5 }, () => startChild(script, env));

    await Promise.all(replicas.map((replica) => replica.waitFor(/"ready":true/, 45_000)));

    expect(replicas.map(loadOf)).toEqual(Array.from({ length: 5 }, () => ({ ok: 24, status429: 0, failed: 0 })));
    expect(emulator.stats.rateLimited).toBe(0);
    expect(emulator.stats.tokenRequests).toBe(1);
  }, 60_000);

  it('a restart of the node holding the token costs callers no errors, and the replicas share one token again after', async () => {
    emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: 3 });
    const env = { ...clusterEnv(), LOAD_PER_SECOND: '10', LOAD_SECONDS: '10' };
    replicas = Array.from({ length: 3 }, () => startChild(script, env));
    await Promise.all(replicas.map((replica) => replica.waitFor(/"token":"ok"/, 30_000)));
    await sleep(1_000);
    const port = await clusterNodeHolding(`${env.KEY_PREFIX}{token:`);
    try {
      await restartClusterNode(port, 2_000);
      // The first refresh after the restart may still be each replica's own; from the next lifetime on they share again.
      await sleep(3_000);
      const issuedOnceConverged = emulator.stats.tokensIssued;
      await Promise.all(replicas.map((replica) => replica.waitFor(/"tokenStore"/, 30_000)));

      expect(replicas.map(loadOf)).toEqual(Array.from({ length: 3 }, () => ({ ok: 100, status429: 0, failed: 0 })));
      expect(replicas.map((replica) => eventsOf(replica).find((event) => event.tokenStore)!.tokenStore)).toEqual(['shared', 'shared', 'shared']);
      // About 3 s of 3 s tokens refreshed every 2.1-2.4 s: shared, 1 or 2 token requests; on their own, 3 to 6.
      expect(emulator.stats.tokensIssued - issuedOnceConverged).toBeLessThanOrEqual(2);
    } finally {
      await clusterHealthy();
    }
  }, 90_000);
});

(available ? describe : describe.skip)('a Redis that stops answering', () => {
  it('app.close() returns within 3 s when Redis accepts connections and never answers', async () => {
    const silent = await silentServer();
    try {
      running = await startEmulatedApp({ tokenStore: new RedisTokenStore({ url: `redis://127.0.0.1:${silent.port}` }), rateLimit: { requestsPerToken: 100, windowMs: 1_000 } });
      await running.app.get(GenesysHttpService).axiosRef.get('/api/v2/organizations/me'); // served on its own while the store is silent
      expect(silent.connections()).toBeGreaterThan(0);

      const started = Date.now();
      await running.close();
      running = undefined;

      expect(stalls.elapsedRunning(started)).toBeLessThan(3_000);
    } finally {
      await silent.close();
    }
  }, 20_000);

  it('app.close() returns within 3 s while a real Redis is stuck in DEBUG SLEEP', async () => {
    const port = await freeLoopbackPort();
    redisServer = await startRedisServer(port);
    running = await startEmulatedApp({ tokenStore: new RedisTokenStore({ url: `redis://127.0.0.1:${port}` }), rateLimit: { requestsPerToken: 100, windowMs: 1_000 } });
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get('/api/v2/organizations/me');
    const admin = createClient({ url: `redis://127.0.0.1:${port}` });
    await admin.connect();
    void admin.sendCommand(['DEBUG', 'SLEEP', '10']).catch(() => undefined);
    await sleep(100);
    const call = genesys.axiosRef.get('/api/v2/organizations/me'); // its store calls wait on the sleeping Redis

    await expect(call).resolves.toMatchObject({ status: 200 });
    const started = Date.now();
    await running.close();
    running = undefined;

    expect(stalls.elapsedRunning(started)).toBeLessThan(3_000);
    admin.destroy();
  }, 20_000);
});

(available ? describe : describe.skip)('callers waiting for a shared budget', () => {
  it('1 000 callers waiting up to 5 s for 10 requests a second are served in order and cost Redis at most 2 000 commands', async () => {
    const port = await freeLoopbackPort();
    redisServer = await startRedisServer(port); // a Redis of its own: its command count is this test's alone
    const store = new RedisTokenStore({ url: `redis://127.0.0.1:${port}` });
    running = await startEmulatedApp(
      { tokenStore: store, rateLimit: { requestsPerToken: 10, windowMs: 1_000, maxWaitMs: 5_000, maxQueued: 2_000 } },
      { apiRateLimit: { requestsPerToken: 10, windowMs: 1_000 } },
    );
    const genesys = running.app.get(GenesysHttpService);
    await genesys.axiosRef.get('/api/v2/organizations/me');
    await sleep(1_100); // that call's budget back
    const before = await redisCommandCount(port);

    const served: number[] = [];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 1_000 }, (_, index) => genesys.axiosRef.get('/api/v2/organizations/me').then(() => void served.push(index))),
    );
    const commands = (await redisCommandCount(port)) - before;

    expect(commands).toBeLessThanOrEqual(2_000);
    expect(served).toEqual([...served].sort((a, b) => a - b));
    expect(served.length).toBeGreaterThanOrEqual(45); // 10 a second for 5 s, as without a store
    expect(outcomes.filter((outcome) => outcome.status === 'rejected').length).toBe(1_000 - served.length);
    expect(running.emulator.stats.rateLimited).toBe(0);
  }, 30_000);

  it('replicas that cannot reach a slow Redis keep to their share of the budget: no 429 reaches the emulator', async () => {
    const port = await freeLoopbackPort();
    redisServer = await startRedisServer(port);
    emulator = await GenesysCloudEmulator.start({ apiRateLimit: { requestsPerToken: 30, windowMs: 1_000 } });
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, EMULATOR_URL: emulator.url, KEY_PREFIX: keyPrefix(), BUDGET: '30', WINDOW_MS: '1000', LOAD_PER_SECOND: '15', LOAD_SECONDS: '8' };
    replicas = Array.from({ length: 3 }, () => startChild(script, env));
    await Promise.all(replicas.map((replica) => replica.waitFor(/"token":"ok"/, 30_000)));
    await sleep(2_000);
    const admin = createClient({ url: env.REDIS_URL });
    await admin.connect();

    await admin.sendCommand(['DEBUG', 'SLEEP', '4']); // every store call times out meanwhile: each replica counts on its own
    await Promise.all(replicas.map((replica) => replica.waitFor(/"ready":true/, 45_000)));
    await admin.close();

    expect(replicas.map(loadOf)).toEqual(Array.from({ length: 3 }, () => ({ ok: 120, status429: 0, failed: 0 })));
    expect(emulator.stats.rateLimited).toBe(0);
  }, 90_000);
});

/** Every command Redis on `port` has run (scripts' own commands included), from INFO commandstats. */
async function redisCommandCount(port: number): Promise<number> {
  const client = createClient({ url: `redis://127.0.0.1:${port}` });
  await client.connect();
  const info = String(await client.sendCommand(['INFO', 'commandstats']));
  await client.close();
  return [...info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)].reduce((sum, [, calls]) => sum + Number(calls), 0);
}

/** A TCP server that accepts connections and never answers: a half-open Redis. */
async function silentServer(): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The port of the cluster node holding keys that start with `prefix`. */
async function clusterNodeHolding(prefix: string): Promise<number> {
  for (const url of REDIS_CLUSTER_URLS) {
    const client = createClient({ url });
    await client.connect();
    const keys = await client.keys(`${prefix}*`);
    await client.close();
    if (keys.length > 0) return Number(new URL(url).port);
  }
  throw new Error(`no cluster node holds ${prefix}*`);
}

/** Where scripts/start-test-redis.sh keeps each cluster node's state, so that a restarted node rejoins. */
const clusterDataDir = join(process.env.TMPDIR ?? tmpdir(), 'nestjs-genesys-auth-redis');

/** Kills the cluster node on `port` (no goodbye), and starts it again `downMs` later with its cluster state. */
async function restartClusterNode(port: number, downMs: number): Promise<void> {
  const pid = Number(execFileSync('redis-cli', ['-p', String(port), 'info', 'server'], { encoding: 'utf8' }).match(/process_id:(\d+)/)![1]);
  process.kill(pid, 'SIGKILL');
  await sleep(downMs);
  spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--daemonize', 'yes'],
    { cwd: join(clusterDataDir, String(port)), stdio: 'ignore' },
  );
}

/** Waits (up to 20 s) until every node says the cluster is ok again, so later tests find it whole. */
async function clusterHealthy(): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const cluster = createCluster({ rootNodes: REDIS_CLUSTER_URLS.map((url) => ({ url })), defaults: { socket: { reconnectStrategy: false, connectTimeout: 500 } } });
    cluster.on('error', () => undefined);
    try {
      await cluster.connect();
      const states = await Promise.all(cluster.masters.map(async (node) => String(await (await cluster.nodeClient(node)).sendCommand(['CLUSTER', 'INFO']))));
      await cluster.close();
      if (states.length === REDIS_CLUSTER_URLS.length && states.every((info) => info.includes('cluster_state:ok'))) return;
    } catch {
      cluster.destroy();
    }
    if (Date.now() > deadline) throw new Error('the Redis Cluster did not come back');
    await sleep(200);
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, createCluster } from 'redis';

/** The Redis the tests use: `REDIS_URL`, by default the one `scripts/start-test-redis.sh` starts. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6390';

/** The nodes of the Redis Cluster the tests use: `REDIS_CLUSTER_URLS` (comma-separated), by default the three `scripts/start-test-redis.sh` starts. */
export const REDIS_CLUSTER_URLS = (process.env.REDIS_CLUSTER_URLS ?? 'redis://127.0.0.1:6391,redis://127.0.0.1:6392,redis://127.0.0.1:6393').split(',');

/** Whether the Redis Cluster answers with every slot served; in CI its absence is an error (see {@link redisAvailable}). */
export async function redisClusterAvailable(): Promise<boolean> {
  const cluster = createCluster({
    rootNodes: REDIS_CLUSTER_URLS.map((url) => ({ url })),
    defaults: { socket: { connectTimeout: 1_000, reconnectStrategy: false } },
  });
  cluster.on('error', () => undefined);
  try {
    await cluster.connect();
    const info = String(await cluster.sendCommand(undefined, true, ['CLUSTER', 'INFO']));
    await cluster.close();
    if (!info.includes('cluster_state:ok')) throw new Error(`cluster state is not ok:\n${info}`);
    return true;
  } catch (error) {
    cluster.destroy();
    if (process.env.CI === 'true') throw new Error(`Redis Cluster is not reachable at ${REDIS_CLUSTER_URLS.join(', ')} (${String(error)}): .ci/run should have started it`);
    process.stdout.write(`\nSkipping the Redis Cluster tests: no cluster at ${REDIS_CLUSTER_URLS.join(', ')} (start one with: scripts/start-test-redis.sh)\n`);
    return false;
  }
}

/**
 * Whether that Redis answers. In CI (`CI=true`) a missing Redis is an error, not a reason to skip:
 * `.ci/run` installs and starts one, so its absence means the setup broke.
 */
export async function redisAvailable(): Promise<boolean> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    await client.close();
    return true;
  } catch {
    client.destroy();
    if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${REDIS_URL}: .ci/run should have started it`);
    process.stdout.write(`\nSkipping the Redis tests: no Redis at ${REDIS_URL} (start one with: scripts/start-test-redis.sh)\n`);
    return false;
  }
}

/** A Redis of the test's own on `port` (DEBUG allowed), answering before this resolves, so the test can stop, slow and restart it. */
export async function startRedisServer(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes']);
  for (let tries = 0; tries < 50 && !(await reachable(port)); tries++) await sleep(100);
  return server;
}

async function reachable(port: number): Promise<boolean> {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: 500, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.close();
    return true;
  } catch {
    client.destroy();
    return false;
  }
}

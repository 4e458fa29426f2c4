// Many replicas of one app against one Genesys Cloud org: 10 replicas as separate Node processes
// (bench/replica.mjs), cold-started together, against one emulator in this process, each with
//   - its own tokens and budgets (per pod, the default), or
//   - tokens and budgets shared through Redis (RedisTokenStore), with one token or a pool of four,
//     on one Redis node and on a Redis Cluster (REDIS_CLUSTER_URLS; the row is left out without one).
// The emulator allows 300 requests per token per 2 s (Genesys' 300 a minute, 30 times faster) and
// issues 4 s tokens, so that refreshes happen during the run; the replicas together offer about
// twice one token's budget for 8 s. Each mode gets a fresh emulator and a fresh Redis key prefix.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient, createCluster } from 'redis';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { printTable } from './support.mjs';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 10);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 8);
const TOKEN_LIFETIME_SECONDS = 4;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6390';
const REDIS_CLUSTER_URLS = (process.env.REDIS_CLUSTER_URLS ?? 'redis://127.0.0.1:6391,redis://127.0.0.1:6392,redis://127.0.0.1:6393').split(',');
const API_RATE_LIMIT = { requestsPerToken: 300, windowMs: 2_000 };
// Twice one token's budget across the cluster: 300 a second for 10 replicas is 30 each.
const PER_REPLICA_PER_SECOND = Math.round((2 * API_RATE_LIMIT.requestsPerToken * 1000) / API_RATE_LIMIT.windowMs / REPLICAS);
const PATH = '/api/v2/organizations/me';
const EXIT_GRACE_MS = 5_000;

const MODES = [
  { mode: 'per-pod tokens' },
  { mode: 'shared store (RedisTokenStore)', shared: true },
  { mode: 'shared store, tokenPool size 4', shared: true, tokenPool: { size: 4 } },
  { mode: 'shared store on a 3-node Redis Cluster', shared: true, cluster: true },
];

/** Whether the Redis Cluster answers; without one its row is left out (said on stderr). */
async function clusterAnswers() {
  const cluster = createCluster({ rootNodes: REDIS_CLUSTER_URLS.map((url) => ({ url })), defaults: { socket: { connectTimeout: 2_000, reconnectStrategy: false } } });
  cluster.on('error', () => undefined);
  try {
    await cluster.connect();
    await cluster.close();
    return true;
  } catch (error) {
    cluster.destroy();
    console.warn(`No Redis Cluster at ${REDIS_CLUSTER_URLS.join(', ')} (${error.message}): its row is left out (start one with scripts/start-test-redis.sh)`);
    return false;
  }
}

/** Fails early and plainly without Redis: the library would fall back to per-pod tokens and the shared rows would measure nothing. */
async function checkRedis() {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(`bench:cluster needs Redis at ${REDIS_URL} (set REDIS_URL): ${error.message}`);
  } finally {
    if (client.isOpen) await client.close();
  }
}

/** A replica's next message; rejects if it exits first, which would otherwise hang the run. */
function nextMessage(replica) {
  return Promise.race([
    once(replica, 'message').then(([message]) => message),
    once(replica, 'exit').then(([code]) => Promise.reject(new Error(`a replica exited with code ${code} before reporting`))),
  ]);
}

/**
 * Waits for the replicas, which closed their app after reporting, to exit; kills and counts those
 * that have not within EXIT_GRACE_MS: something the library left open (a timer, a socket) holds them.
 */
async function reap(replicas) {
  const running = () => replicas.filter((replica) => replica.exitCode === null && replica.signalCode === null);
  await Promise.race([Promise.all(running().map((replica) => once(replica, 'exit'))), delay(EXIT_GRACE_MS)]);
  const stuck = running();
  for (const replica of stuck) replica.kill('SIGKILL');
  return stuck.length;
}

async function runMode({ mode, shared, tokenPool, cluster }) {
  const emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, apiRateLimit: API_RATE_LIMIT });
  const settings = {
    moduleOptions: emulator.moduleOptions(),
    rateLimit: { ...API_RATE_LIMIT, maxWaitMs: 30_000 },
    tokenPool,
    redis: shared ? { ...(cluster ? { clusterUrls: REDIS_CLUSTER_URLS } : { url: REDIS_URL }), keyPrefix: `bench-cluster:${randomUUID()}:` } : undefined,
  };
  const replicas = Array.from({ length: REPLICAS }, () =>
    fork(new URL('./replica.mjs', import.meta.url), { env: { ...process.env, BENCH_REPLICA: JSON.stringify(settings) } }),
  );
  await Promise.all(replicas.map(nextMessage)); // all ready: started, no token yet
  const results = Promise.all(replicas.map(nextMessage));
  const begin = performance.now();
  for (const replica of replicas) replica.send({ perSecond: PER_REPLICA_PER_SECOND, seconds: LOAD_SECONDS });
  // The cold start's token requests: taken well before the first refresh (at 70-80 % of the lifetime).
  let coldStartTokenRequests;
  const coldStart = setTimeout(() => (coldStartTokenRequests = emulator.stats.tokenRequests), 1_000);
  const reports = await results;
  const elapsedMs = performance.now() - begin;
  clearTimeout(coldStart);
  const stuck = await reap(replicas);
  if (stuck) console.warn(`${mode}: ${stuck} of ${REPLICAS} replicas were still running ${EXIT_GRACE_MS} ms after closing their app (killed)`);
  await emulator.close();

  const notShared = reports.filter((report) => report.tokenStore === 'unavailable').length;
  if (notShared) throw new Error(`${notShared} replicas lost Redis during the run: the "${mode}" row would not be what it says`);
  const sum = (field) => reports.reduce((total, report) => total + report.outcome[field], 0);
  return {
    mode,
    'token requests at cold start (first 1 s)': coldStartTokenRequests,
    'token requests': emulator.stats.tokenRequests,
    '429s sent by the emulator': emulator.stats.rateLimited,
    'caller-visible 429s': sum('status429'),
    'other caller-visible errors': sum('otherErrors'),
    'completed requests': sum('completed'),
    'elapsed s': (elapsedMs / 1000).toFixed(1),
    'completed/s': Math.round(sum('completed') / (elapsedMs / 1000)),
  };
}

await checkRedis();
const withCluster = await clusterAnswers();
const rows = [];
for (const mode of MODES) if (!mode.cluster || withCluster) rows.push(await runMode(mode));
const { requestsPerToken, windowMs } = API_RATE_LIMIT;
console.log(
  `\nCluster: ${REPLICAS} replicas (separate Node processes) cold-started together, each offering ${PER_REPLICA_PER_SECOND} GET ${PATH} a second for ${LOAD_SECONDS} s (${REPLICAS * PER_REPLICA_PER_SECOND * LOAD_SECONDS} in all, twice one token's budget); the emulator allows ${requestsPerToken} requests per token per ${windowMs} ms and issues ${TOKEN_LIFETIME_SECONDS} s tokens; the library is configured with the same budget and maxWaitMs 30 s; Node ${process.version}\n`,
);
printTable(rows);

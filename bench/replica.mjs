// One replica (pod) of an app for bench/cluster.mjs, forked by it with an IPC channel. It registers
// the library on the parent's emulator, with or without the shared Redis store, reports `ready`,
// offers its share of the load when told `go`, reports what its callers saw and exits.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GenesysAuthModule, GenesysHttpService, getGenesysClientToken } from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { createCluster } from 'redis';
import { statusOf } from './support.mjs';

const { moduleOptions, rateLimit, tokenPool, redis } = JSON.parse(process.env.BENCH_REPLICA);

/** In cluster mode the app connects a node-redis cluster client and gives it to the store (and closes it itself). */
const cluster = redis?.clusterUrls && createCluster({ rootNodes: redis.clusterUrls.map((url) => ({ url })), defaults: { disableOfflineQueue: true } });
if (cluster) {
  cluster.on('error', () => undefined);
  await cluster.connect();
}
const tokenStore = redis && new RedisTokenStore(cluster ? { client: cluster, keyPrefix: redis.keyPrefix } : redis);

class ReplicaModule {}
Module({
  imports: [
    GenesysAuthModule.forRoot({
      ...moduleOptions,
      // Lazy, so that every replica's first token request waits for `go` and they all coincide.
      fetchTokenOnStartup: false,
      rateLimit,
      ...(tokenPool ? { tokenPool } : {}),
      ...(tokenStore ? { tokenStore } : {}),
    }),
  ],
})(ReplicaModule);
const app = await NestFactory.createApplicationContext(ReplicaModule, { logger: ['error'] });
const genesys = app.get(GenesysHttpService);

/**
 * Offers `perSecond` calls a second for `seconds` on a fixed schedule, whether or not earlier calls
 * have returned (an open load, as incoming traffic is), then waits for them all.
 */
async function offerLoad({ perSecond, seconds }) {
  const outcome = { completed: 0, status429: 0, otherErrors: 0 };
  const calls = [];
  const begin = performance.now();
  for (let index = 0; index < perSecond * seconds; index++) {
    const dueIn = begin + (index * 1000) / perSecond - performance.now();
    if (dueIn > 0) await new Promise((resolve) => setTimeout(resolve, dueIn));
    calls.push(
      genesys.axiosRef.get('/api/v2/organizations/me').then(
        () => void outcome.completed++,
        (error) => void (statusOf(error) === 429 ? outcome.status429++ : outcome.otherErrors++),
      ),
    );
  }
  await Promise.all(calls);
  return outcome;
}

process.once('message', async (load) => {
  const outcome = await offerLoad(load);
  // Checked by the parent: a store that fell back to per-pod tokens would make the shared row a lie.
  const storeState = app.get(getGenesysClientToken()).tokenStore;
  await app.close();
  await cluster?.close();
  // The parent may have gone already (it gave up on this run): nothing to report to then.
  if (process.connected) process.send({ outcome, tokenStore: storeState }, () => process.connected && process.disconnect());
});
process.send('ready');

// Signed and paced vs unsigned: the same GET through GenesysHttpService (rate limiting on, with
// budget to spare) and through plain HttpServices that carry a fixed token, against one loopback
// emulator, interleaved in rounds within one run. The goal is measured against the baseline of
// `bench:cpu` (a synchronous interceptor setting the header, on axios' defaults); the same baseline on
// Node's own transport (`maxRedirects: 0`, as the library sends a GET without a body) is shown for
// reference: what signing, pacing and deadlines cost like for like.
import 'reflect-metadata';
import * as http from 'node:http';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { GenesysAuthModule, GenesysHttpService, GenesysTokenService } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { fixedHeaderHttpService, median, printTable, runLoad, SPARE_BUDGET } from './support.mjs';

const PER_ROUND = Number(process.env.BENCH_REQUESTS_PER_ROUND ?? 1_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = 42; // each of the six orders of the three contenders seven times
const TOTAL = PER_ROUND * ROUNDS;
const PATH = '/api/v2/organizations/me';

// Off: the per-token API limit (300 a minute) would turn most of the measured GETs into 429s. The
// library keeps pacing on, with a budget it never exhausts: the common case, whose cost is measured.
const emulator = await GenesysCloudEmulator.start({ apiRateLimit: false });
class BenchModule {}
Module({
  imports: [GenesysAuthModule.forRoot({ ...emulator.moduleOptions(), fetchTokenOnStartup: false, rateLimit: SPARE_BUDGET })],
})(BenchModule);
const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'] });
const signed = app.get(GenesysHttpService);

const token = await app.get(GenesysTokenService).getAccessToken();
const agents = [new http.Agent({ keepAlive: true }), new http.Agent({ keepAlive: true })];
const baseline = fixedHeaderHttpService({ baseURL: emulator.apiBaseUrl, token, agent: agents[0] });
const nativeBaseline = fixedHeaderHttpService({ baseURL: emulator.apiBaseUrl, token, agent: agents[1], maxRedirects: 0 });

const contenders = [
  { name: 'GenesysHttpService (signed, paced)', call: () => signed.axiosRef.get(PATH), elapsedMs: 0, failures: 0 },
  { name: 'HttpService + fixed-header sync interceptor (baseline)', call: () => baseline.axiosRef.get(PATH), elapsedMs: 0, failures: 0 },
  { name: 'the baseline on Node’s own transport, maxRedirects: 0 (reference)', call: () => nativeBaseline.axiosRef.get(PATH), elapsedMs: 0, failures: 0 },
];
for (const contender of contenders) await runLoad(contender.call, { total: 500, concurrency: CONCURRENCY }); // warm-up
emulator.resetStats();

// Rounds take the contenders in each order in turn; the ratios are taken per round and their medians
// reported, so a GC pause or a noisy neighbour in one round does not decide the result.
const orders = contenders.flatMap((first) => {
  const rest = contenders.filter((contender) => contender !== first);
  return [[first, ...rest], [first, ...rest.reverse()]];
});
const [library, ...plainOnes] = contenders;
const roundRatios = plainOnes.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  const elapsed = new Map();
  for (const contender of orders[round % orders.length]) {
    const result = await runLoad(contender.call, { total: PER_ROUND, concurrency: CONCURRENCY });
    contender.elapsedMs += result.elapsedMs;
    contender.failures += result.failures;
    elapsed.set(contender, result.elapsedMs);
  }
  plainOnes.forEach((plain, index) => roundRatios[index].push(elapsed.get(plain) / elapsed.get(library)));
}
const [vsBaseline, vsNativeBaseline] = roundRatios.map((ratios) => ({ median: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) }));

const fastest = Math.min(...contenders.map((contender) => contender.elapsedMs));
console.log(`\n${TOTAL} GETs each, concurrency ${CONCURRENCY}, ${ROUNDS} interleaved rounds, Node ${process.version}\n`);
printTable(
  contenders.map((contender) => ({
    contender: contender.name,
    'requests/s': Math.round(TOTAL / (contender.elapsedMs / 1000)),
    'throughput vs fastest': (fastest / contender.elapsedMs).toFixed(3),
    failures: contender.failures,
  })),
);
console.log(
  `\nsigned and paced / baseline throughput, median of ${ROUNDS} rounds: ${vsBaseline.median.toFixed(3)} (goal >= 0.98; rounds ranged ${vsBaseline.low.toFixed(3)}-${vsBaseline.high.toFixed(3)})`,
);
console.log(`signed and paced / the baseline on Node's own transport (reference), median of ${ROUNDS} rounds: ${vsNativeBaseline.median.toFixed(3)}`);
console.log(`token requests during the measured run: ${emulator.stats.tokenRequests} (plus 1 before it; goal: 1 in all)`);

await app.close();
for (const agent of agents) agent.destroy();
await emulator.close();

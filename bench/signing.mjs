// Signed and paced vs unsigned: the same GET through GenesysHttpService (rate limiting on, with
// budget to spare) and through a plain HttpService that carries a fixed token, against one loopback
// emulator, interleaved in rounds within one run.
import 'reflect-metadata';
import * as http from 'node:http';
import { HttpService } from '@nestjs/axios';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import axios from 'axios';
import { GenesysAuthModule, GenesysHttpService, GenesysTokenService } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { printTable, runLoad, SPARE_BUDGET } from './support.mjs';

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 40_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const ROUNDS = 40;
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
const agent = new http.Agent({ keepAlive: true });
// Same defaults as GenesysHttpService, so that only signing differs.
const plain = new HttpService(
  axios.create({
    baseURL: emulator.apiBaseUrl,
    timeout: 30_000,
    httpAgent: agent,
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
  }),
);

const contenders = [
  { name: 'GenesysHttpService (signed, paced)', call: () => signed.axiosRef.get(PATH), elapsedMs: 0, failures: 0 },
  { name: 'HttpService + fixed header', call: () => plain.axiosRef.get(PATH), elapsedMs: 0, failures: 0 },
];
for (const contender of contenders) await runLoad(contender.call, { total: 500, concurrency: CONCURRENCY }); // warm-up
emulator.resetStats();

// Rounds alternate who goes first; the ratio is taken per round and the median reported, so a
// GC pause or a noisy neighbour in one round does not decide the result.
const roundRatios = [];
for (let round = 0; round < ROUNDS; round++) {
  const elapsed = new Map();
  for (const contender of round % 2 ? [...contenders].reverse() : contenders) {
    const result = await runLoad(contender.call, { total: TOTAL / ROUNDS, concurrency: CONCURRENCY });
    contender.elapsedMs += result.elapsedMs;
    contender.failures += result.failures;
    elapsed.set(contender, result.elapsedMs);
  }
  roundRatios.push(elapsed.get(contenders[1]) / elapsed.get(contenders[0]));
}
roundRatios.sort((a, b) => a - b);
const medianRatio = (roundRatios[ROUNDS / 2 - 1] + roundRatios[ROUNDS / 2]) / 2;

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
console.log(`\nsigned and paced / unsigned throughput, median of ${ROUNDS} rounds: ${medianRatio.toFixed(3)} (goal >= 0.98; rounds ranged ${roundRatios[0].toFixed(3)}-${roundRatios[ROUNDS - 1].toFixed(3)})`);
console.log(`token requests during the measured run: ${emulator.stats.tokenRequests} (plus 1 before it; goal: 1 in all)`);

await app.close();
agent.destroy();
await emulator.close();

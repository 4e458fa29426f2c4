// Client CPU per request (`process.cpuUsage()`, user + system): what signing, pacing and deadlines cost
// this process, with the emulator in a process of its own so that its work is not counted. Contenders:
// a plain HttpService whose synchronous interceptor sets a fixed Authorization header (the baseline), the
// same on Node's own transport (maxRedirects: 0, as the library sends a GET without a body),
// GenesysHttpService with its defaults (pacing with budget to spare, the 30 s deadline) and without
// deadlines, pacing or both; then both ends again on a stub adapter (no network: axios and interceptor
// code only). Runs are interleaved, and each contender's median over the runs is reported.
import 'reflect-metadata';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import axios from 'axios';
import { GenesysAuthModule, GenesysHttpService, GenesysTokenService } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { fixedHeaderHttpService, median, printTable, runLoad, SPARE_BUDGET } from './support.mjs';

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PATH = '/api/v2/organizations/me';

if (process.argv[2] === 'emulator') {
  // The child: an emulator without the per-token API limit (it would turn most GETs into 429s).
  const emulator = await GenesysCloudEmulator.start({ apiRateLimit: false });
  process.send(emulator.moduleOptions());
  process.on('disconnect', () => void emulator.close().then(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const child = fork(new URL(import.meta.url), ['emulator'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [moduleOptions] = await once(child, 'message');
  const apps = [];

  /** A GenesysHttpService of its own registration, with a token already held. */
  async function genesysHttp(options) {
    class BenchModule {}
    Module({ imports: [GenesysAuthModule.forRoot({ ...moduleOptions, fetchTokenOnStartup: false, ...options })] })(BenchModule);
    const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error', 'warn'] });
    apps.push(app);
    await app.get(GenesysTokenService).getAccessToken();
    return app.get(GenesysHttpService);
  }

  const withDefaults = await genesysHttp({ rateLimit: SPARE_BUDGET });
  const token = await apps[0].get(GenesysTokenService).getAccessToken();
  const agents = [];
  const plainHttp = (adapter, maxRedirects) =>
    fixedHeaderHttpService({ baseURL: moduleOptions.apiBaseUrl, token, agent: agents[agents.push(new http.Agent({ keepAlive: true })) - 1], adapter, maxRedirects });
  // Answers at once, as a server would: the response axios builds from it goes through the same steps.
  const stubAdapter = async (config) => ({ data: { id: 'org' }, status: 200, statusText: 'OK', headers: { 'content-type': 'application/json' }, config, request: {} });
  const stubbedGenesys = await genesysHttp({ rateLimit: SPARE_BUDGET });
  stubbedGenesys.axiosRef.defaults.adapter = stubAdapter;

  const contenders = [
    { name: 'HttpService + fixed-header sync interceptor (baseline)', service: plainHttp(), baseline: true },
    { name: "the baseline on Node's own transport, maxRedirects: 0 (reference)", service: plainHttp(undefined, 0) },
    { name: 'GenesysHttpService, defaults (paced, 30 s deadline)', service: withDefaults },
    { name: 'GenesysHttpService, no deadline (apiRequestTimeoutMs: 0)', service: await genesysHttp({ rateLimit: SPARE_BUDGET, apiRequestTimeoutMs: 0 }) },
    { name: 'GenesysHttpService, no pacing (rateLimit: false)', service: await genesysHttp({ rateLimit: false }) },
    { name: 'GenesysHttpService, neither', service: await genesysHttp({ rateLimit: false, apiRequestTimeoutMs: 0 }) },
    { name: 'stub adapter: baseline', service: plainHttp(stubAdapter), stub: true, baseline: true },
    { name: 'stub adapter: GenesysHttpService, defaults', service: stubbedGenesys, stub: true },
  ].map((contender) => ({ ...contender, microsPerRequest: [], failures: 0 }));

  for (const contender of contenders) await runLoad(() => contender.service.axiosRef.get(PATH), { total: 2_000, concurrency: CONCURRENCY }); // warm-up

  for (let run = 0; run < RUNS; run++) {
    for (const contender of run % 2 ? [...contenders].reverse() : contenders) {
      globalThis.gc?.();
      const before = process.cpuUsage();
      const result = await runLoad(() => contender.service.axiosRef.get(PATH), { total: TOTAL, concurrency: CONCURRENCY });
      const used = process.cpuUsage(before);
      contender.microsPerRequest.push((used.user + used.system) / TOTAL);
      contender.failures += result.failures;
      if (result.firstFailure) console.warn(`${contender.name}: ${result.failures} failed, the first with ${result.firstFailure.code ?? result.firstFailure.message}`);
    }
  }

  const baselineOf = (contender) => median(contenders.find((other) => other.baseline && Boolean(other.stub) === Boolean(contender.stub)).microsPerRequest);
  console.log(`\n${TOTAL} GETs per run, concurrency ${CONCURRENCY}, median of ${RUNS} interleaved runs, Node ${process.version}, axios ${axios.VERSION}\n`);
  printTable(
    contenders.map((contender) => ({
      contender: contender.name,
      'CPU µs/request': median(contender.microsPerRequest).toFixed(1),
      'over baseline': (median(contender.microsPerRequest) - baselineOf(contender)).toFixed(1),
      runs: contender.microsPerRequest.map((micros) => micros.toFixed(1)).join(' '),
      failures: contender.failures,
    })),
  );

  for (const app of apps) await app.close();
  for (const agent of agents) agent.destroy();
  child.disconnect();
}

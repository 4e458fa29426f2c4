// The same workload through three ways of calling Genesys Cloud with client credentials, against one
// loopback emulator with short token lifetimes and a revocation halfway through each run:
//   1. this library's GenesysHttpService;
//   2. Genesys' official JavaScript SDK (purecloud-platform-client-v2), pointed at the emulator with
//      setGateway; it logs in once and never refreshes, so the caller re-logs in when the SDK's
//      recorded expiry has passed (the least a user must add);
//   3. plain axios fetching a token as Genesys' client-credentials blog example does, cached naively
//      until its expires_in passes.
// Prints a markdown table. Absolute numbers depend on the machine; compare within one run.
import 'reflect-metadata';
import { createRequire } from 'node:module';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import axios from 'axios';
import { GenesysAuthModule, GenesysHttpService } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { printTable, runLoad } from './support.mjs';

const platformClient = createRequire(import.meta.url)('purecloud-platform-client-v2');

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const TOKEN_LIFETIME_SECONDS = Number(process.env.BENCH_TOKEN_LIFETIME ?? 3);
const PATH = '/api/v2/organizations/me';

const ROUNDS = 10;

// Each contender gets its own emulator, so that counters and the revocation are its own.
async function thisLibrary(emulator) {
  class BenchModule {}
  Module({ imports: [GenesysAuthModule.forRoot({ ...emulator.moduleOptions(), fetchTokenOnStartup: false })] })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
  const genesys = app.get(GenesysHttpService);
  return { call: () => genesys.axiosRef.get(PATH), close: () => app.close() };
}

async function officialSdk(emulator) {
  // The SDK keeps one global ApiClient.instance: fine here, as it is the only SDK contender.
  const client = platformClient.ApiClient.instance;
  const { port } = new URL(emulator.url);
  client.setGateway({ host: '127.0.0.1', protocol: 'http', port: Number(port), path_params_login: '', path_params_api: '' });
  const organizations = new platformClient.OrganizationApi();
  const loginIfExpired = async () => {
    if (!client.authData.accessToken || Date.now() >= client.authData.tokenExpiryTime) {
      await client.loginClientCredentialsGrant(emulator.clientId, emulator.clientSecret);
    }
  };
  return {
    call: async () => {
      await loginIfExpired();
      return organizations.getOrganizationsMe();
    },
    close: async () => undefined,
  };
}

async function plainAxios(emulator) {
  const api = axios.create({ baseURL: emulator.apiBaseUrl });
  let token;
  let expiresAt = 0;
  const getToken = async () => {
    if (!token || Date.now() >= expiresAt) {
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret });
      const { data } = await axios.post(`${emulator.loginBaseUrl}/oauth/token`, form);
      token = data.access_token;
      expiresAt = Date.now() + data.expires_in * 1000;
    }
    return token;
  };
  return {
    call: async () => api.get(PATH, { headers: { Authorization: `Bearer ${await getToken()}` } }),
    close: async () => undefined,
  };
}

const contenders = [];
for (const [name, create] of [
  ['nestjs-genesys-auth (GenesysHttpService)', thisLibrary],
  ['purecloud-platform-client-v2 (official SDK)', officialSdk],
  ['plain axios, naive token cache', plainAxios],
]) {
  // The per-token API limit is off: the bench measures token handling, not rate limiting.
  const emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, apiRateLimit: false });
  const contender = { name, emulator, ...(await create(emulator)), elapsedMs: 0, sent: 0, failures: 0, unauthorized: 0 };
  await runLoad(contender.call, { total: 1_000, concurrency: CONCURRENCY }); // warm-up: JIT, sockets
  emulator.resetStats();
  contenders.push(contender);
}

// Interleaved rounds with a rotating order: machine noise spreads over all contenders alike.
for (let round = 0; round < ROUNDS; round++) {
  for (let turn = 0; turn < contenders.length; turn++) {
    const contender = contenders[(round + turn) % contenders.length];
    const result = await runLoad(
      async () => {
        if (++contender.sent === TOTAL / 2) contender.emulator.revokeAllTokens();
        try {
          await contender.call();
        } catch (error) {
          if ((error?.response?.status ?? error?.status) === 401) contender.unauthorized++;
          throw error;
        }
      },
      { total: TOTAL / ROUNDS, concurrency: CONCURRENCY },
    );
    contender.elapsedMs += result.elapsedMs;
    contender.failures += result.failures;
  }
}

const rows = contenders.map((contender) => ({
  contender: contender.name,
  elapsedMs: contender.elapsedMs,
  succeeded: TOTAL - contender.failures,
  tokenRequests: contender.emulator.stats.tokenRequests,
  callerErrors: { unauthorized: contender.unauthorized, other: contender.failures - contender.unauthorized },
  serverSide401s: contender.emulator.stats.unauthorized,
}));

const fastest = Math.min(...rows.map((row) => row.elapsedMs));
const bestGoodput = Math.max(...rows.map((row) => row.succeeded / row.elapsedMs));
console.log(
  `\n${TOTAL} GET ${PATH} per contender in ${ROUNDS} interleaved rounds, concurrency ${CONCURRENCY}, token lifetime ${TOKEN_LIFETIME_SECONDS} s, all tokens revoked after ${TOTAL / 2} requests; Node ${process.version}\n`,
);
printTable(
  rows.map((row) => ({
    contender: row.contender,
    'requests/s': Math.round(TOTAL / (row.elapsedMs / 1000)),
    'vs fastest': (fastest / row.elapsedMs).toFixed(2),
    'successful requests/s': Math.round(row.succeeded / (row.elapsedMs / 1000)),
    'successful vs best': (row.succeeded / row.elapsedMs / bestGoodput).toFixed(2),
    'token requests': row.tokenRequests,
    'caller-visible 401s': row.callerErrors.unauthorized,
    'other caller-visible errors': row.callerErrors.other,
    '401s at the server': row.serverSide401s,
  })),
);
for (const contender of contenders) {
  await contender.close();
  await contender.emulator.close();
}

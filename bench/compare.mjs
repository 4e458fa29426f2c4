// The same workloads through four ways of calling Genesys Cloud with client credentials:
//   1. this library's GenesysHttpService (in the rate-limit scenario twice: one token, a pool of four);
//   2. Genesys' official JavaScript SDK's typed OrganizationApi through nestjs-genesys-auth/sdk, so on
//      the library's managed token, renewals and pacing;
//   3. Genesys' official JavaScript SDK (purecloud-platform-client-v2), pointed at the emulator with
//      setGateway; it logs in once and never refreshes, so the caller re-logs in when the SDK's
//      recorded expiry has passed (the least a user must add);
//   4. plain axios fetching a token as Genesys' client-credentials blog example does, cached naively
//      until its expires_in passes.
// Neither 3 nor 4 paces requests or retries a 429.
// Each contender gets its own loopback emulator, so that counters, revocations and budgets are its own.
// Two scenarios, each printed as a markdown table:
//   - token handling: short token lifetimes and a revocation halfway through, no API rate limit;
//   - rate limits: Genesys' 300 requests per token in a window 30 times shorter than its minute, and
//     an offered load well above that budget.
// Absolute numbers depend on the machine; compare within one run.
import 'reflect-metadata';
import { createRequire } from 'node:module';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import axios from 'axios';
import { GenesysAuthModule, GenesysHttpService, GenesysTokenService } from 'nestjs-genesys-auth';
import { GenesysPlatformClient, GenesysSdkModule } from 'nestjs-genesys-auth/sdk';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { printTable, runLoad, SPARE_BUDGET, statusOf } from './support.mjs';

const platformClient = createRequire(import.meta.url)('purecloud-platform-client-v2');

const TOTAL = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const TOKEN_LIFETIME_SECONDS = Number(process.env.BENCH_TOKEN_LIFETIME ?? 3);
const RATE_LIMITED_TOTAL = Number(process.env.BENCH_RATE_LIMITED_REQUESTS ?? 3_000);
const PATH = '/api/v2/organizations/me';

const ROUNDS = 10;
// Genesys' per-token limit (300 a minute), sped up 30 times so that the scenario takes seconds.
const API_RATE_LIMIT = { requestsPerToken: 300, windowMs: 2_000 };

/** A Nest application context with this library registered on `emulator`, plus `imports`. */
async function startLibrary(emulator, options, imports = []) {
  class BenchModule {}
  Module({
    imports: [GenesysAuthModule.forRoot({ ...emulator.moduleOptions(), fetchTokenOnStartup: false, isGlobal: true, ...options }), ...imports],
  })(BenchModule);
  return NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
}

function thisLibrary(options) {
  return async (emulator) => {
    const app = await startLibrary(emulator, options);
    const genesys = app.get(GenesysHttpService);
    const tokens = app.get(GenesysTokenService);
    return { call: () => genesys.axiosRef.get(PATH), login: () => tokens.getAccessToken(), close: () => app.close() };
  };
}

/** The SDK's typed API as a user of nestjs-genesys-auth/sdk calls it; it rejects in the SDK's shape (`{ status, … }`). */
function sdkThroughThisLibrary(options) {
  return async (emulator) => {
    const app = await startLibrary(emulator, options, [GenesysSdkModule.forFeature()]);
    const organizations = app.get(GenesysPlatformClient).api(platformClient.OrganizationApi);
    const tokens = app.get(GenesysTokenService);
    return { call: () => organizations.getOrganizationsMe(), login: () => tokens.getAccessToken(), close: () => app.close() };
  };
}

async function officialSdk(emulator) {
  // A client of its own rather than the global ApiClient.instance, so that each scenario starts logged out.
  const client = new platformClient.ApiClientClass();
  const { port } = new URL(emulator.url);
  client.setGateway({ host: '127.0.0.1', protocol: 'http', port: Number(port), path_params_login: '', path_params_api: '' });
  const organizations = new platformClient.OrganizationApi(client);
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
    login: loginIfExpired,
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
    login: getToken,
    close: async () => undefined,
  };
}

/** Starts each contender on its own emulator; `callerErrors` counts failures by status as callers see them. */
async function startContenders(definitions, emulatorOptions) {
  const contenders = [];
  for (const [name, create] of definitions) {
    const emulator = await GenesysCloudEmulator.start(emulatorOptions);
    const contender = { name, emulator, ...(await create(emulator)), elapsedMs: 0, sent: 0, failures: 0, callerErrors: new Map() };
    contender.counted = async () => {
      try {
        await contender.call();
      } catch (error) {
        const status = statusOf(error);
        contender.callerErrors.set(status, (contender.callerErrors.get(status) ?? 0) + 1);
        throw error;
      }
    };
    contenders.push(contender);
  }
  return contenders;
}

async function closeContenders(contenders) {
  for (const contender of contenders) {
    await contender.close();
    await contender.emulator.close();
  }
}

async function tokenHandlingScenario() {
  const contenders = await startContenders(
    [
      // A budget never reached: the emulator's API limit is off here, and the scenario measures token handling.
      ['nestjs-genesys-auth (GenesysHttpService)', thisLibrary({ rateLimit: SPARE_BUDGET })],
      ['official SDK through nestjs-genesys-auth/sdk', sdkThroughThisLibrary({ rateLimit: SPARE_BUDGET })],
      ['purecloud-platform-client-v2 (official SDK)', officialSdk],
      ['plain axios, naive token cache', plainAxios],
    ],
    { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, apiRateLimit: false },
  );
  for (const contender of contenders) {
    await runLoad(contender.call, { total: 1_000, concurrency: CONCURRENCY }); // warm-up: JIT, sockets
    contender.emulator.resetStats();
  }

  // Interleaved rounds with a rotating order: machine noise spreads over all contenders alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (let turn = 0; turn < contenders.length; turn++) {
      const contender = contenders[(round + turn) % contenders.length];
      const result = await runLoad(
        () => {
          if (++contender.sent === TOTAL / 2) contender.emulator.revokeAllTokens();
          return contender.counted();
        },
        { total: TOTAL / ROUNDS, concurrency: CONCURRENCY },
      );
      contender.elapsedMs += result.elapsedMs;
      contender.failures += result.failures;
    }
  }

  const fastest = Math.min(...contenders.map((contender) => contender.elapsedMs));
  const bestGoodput = Math.max(...contenders.map((contender) => (TOTAL - contender.failures) / contender.elapsedMs));
  console.log(
    `\nToken handling: ${TOTAL} GET ${PATH} per contender in ${ROUNDS} interleaved rounds, concurrency ${CONCURRENCY}, token lifetime ${TOKEN_LIFETIME_SECONDS} s, all tokens revoked after ${TOTAL / 2} requests, no API rate limit; Node ${process.version}\n`,
  );
  printTable(
    contenders.map((contender) => {
      const succeeded = TOTAL - contender.failures;
      const unauthorized = contender.callerErrors.get(401) ?? 0;
      return {
        contender: contender.name,
        'requests/s': Math.round(TOTAL / (contender.elapsedMs / 1000)),
        'vs fastest': (fastest / contender.elapsedMs).toFixed(2),
        'successful requests/s': Math.round(succeeded / (contender.elapsedMs / 1000)),
        'successful vs best': (succeeded / contender.elapsedMs / bestGoodput).toFixed(2),
        'token requests': contender.emulator.stats.tokenRequests,
        'caller-visible 401s': unauthorized,
        'other caller-visible errors': contender.failures - unauthorized,
        '401s at the server': contender.emulator.stats.unauthorized,
      };
    }),
  );
  await closeContenders(contenders);
}

async function rateLimitScenario() {
  const { requestsPerToken, windowMs } = API_RATE_LIMIT;
  const contenders = await startContenders(
    [
      ['nestjs-genesys-auth, 1 token', thisLibrary({ rateLimit: API_RATE_LIMIT })],
      ['nestjs-genesys-auth, pool of 4 tokens', thisLibrary({ rateLimit: API_RATE_LIMIT, tokenPool: { size: 4 } })],
      ['official SDK through nestjs-genesys-auth/sdk, 1 token', sdkThroughThisLibrary({ rateLimit: API_RATE_LIMIT })],
      ['purecloud-platform-client-v2 (official SDK)', officialSdk],
      ['plain axios, naive token cache', plainAxios],
    ],
    { apiRateLimit: API_RATE_LIMIT },
  );
  // One run each, no warm-up and no interleaving: the budget is the bottleneck, not the CPU, and a
  // warm-up or a pause for the others would hand a contender budget the measured run did not earn.
  // Each logs in first, as an application does at start-up: 100 lazy logins at once would hand the
  // naive clients 100 tokens, each with a budget of its own, where Genesys' token endpoint refuses
  // bursts (400 "rate limit exceeded;").
  for (const contender of contenders) {
    await contender.login();
    const result = await runLoad(contender.counted, { total: RATE_LIMITED_TOTAL, concurrency: CONCURRENCY });
    contender.elapsedMs = result.elapsedMs;
    contender.failures = result.failures;
  }

  console.log(
    `\nRate limits: ${RATE_LIMITED_TOTAL} GET ${PATH} per contender, concurrency ${CONCURRENCY}; the emulator allows ${requestsPerToken} requests per token per ${windowMs} ms (Genesys' 300 a minute, 30 times faster), this library is configured with the same numbers; Node ${process.version}\n`,
  );
  printTable(
    contenders.map((contender) => {
      const completed = RATE_LIMITED_TOTAL - contender.failures;
      const tooManyRequests = contender.callerErrors.get(429) ?? 0;
      return {
        contender: contender.name,
        'requests/s (completed)': Math.round(completed / (contender.elapsedMs / 1000)),
        'elapsed s': (contender.elapsedMs / 1000).toFixed(1),
        'caller-visible 429s': tooManyRequests,
        'other caller-visible errors': contender.failures - tooManyRequests,
        'completed requests': completed,
        '429s sent by the emulator': contender.emulator.stats.rateLimited,
        'token requests': contender.emulator.stats.tokenRequests,
      };
    }),
  );
  await closeContenders(contenders);
}

await tokenHandlingScenario();
await rateLimitScenario();

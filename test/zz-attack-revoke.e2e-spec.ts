import { afterEach, expect, it } from '@jest/globals';
import { GenesysHttpService, GenesysTokenService } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';

const ORG_ME = '/api/v2/organizations/me';
let running: EmulatedApp | undefined;
afterEach(async () => { await running?.close(); running = undefined; });

const statusOf = (p: Promise<{ status: number }>) => p.then((r) => r.status, (e: any) => e?.response?.status ?? e?.code ?? String(e));

it('pool of 2: revocation costs callers 401s', async () => {
  running = await startEmulatedApp({ tokenPool: { size: 2 }, rateLimit: { requestsPerToken: 5, windowMs: 500, maxWaitMs: 5000 } }, { apiRateLimit: false });
  const genesys = running.app.get(GenesysHttpService);
  const tokens = running.app.get(GenesysTokenService);
  await Promise.all(Array.from({ length: 20 }, () => genesys.axiosRef.get(ORG_ME)));
  console.log('pool', tokens.getState().pool);
  await sleep(600);
  running.emulator.revokeAllTokens();
  const before = running.emulator.stats.tokenRequests;
  const results = await Promise.all(Array.from({ length: 10 }, () => statusOf(genesys.axiosRef.get(ORG_ME))));
  console.log('pool results', results, 'token requests', running.emulator.stats.tokenRequests - before);
  expect(results.filter((s) => s === 401)).toHaveLength(0);
});

it('request in flight across a refresh, then revocation: caller gets 401', async () => {
  running = await startEmulatedApp({}, { apiRateLimit: false });
  const genesys = running.app.get(GenesysHttpService);
  const tokens = running.app.get(GenesysTokenService);
  await genesys.axiosRef.get(ORG_ME);
  running.emulator.inject('api', { delayMs: 500 }, 1);
  const slow = statusOf(genesys.axiosRef.get(ORG_ME));
  await sleep(50);
  await tokens.refresh();
  running.emulator.revokeAllTokens();
  const status = await slow;
  console.log('slow status', status);
  expect(status).toBe(200);
});

it('unauthorizedRenewalIntervalMs 0: persistent 401 storm', async () => {
  running = await startEmulatedApp({ unauthorizedRenewalIntervalMs: 0 }, { apiRateLimit: false });
  const genesys = running.app.get(GenesysHttpService);
  await genesys.axiosRef.get(ORG_ME);
  running.emulator.inject('api', { status: 401 });
  const before = running.emulator.stats.tokenRequests;
  const until = Date.now() + 1000;
  await Promise.all(Array.from({ length: 20 }, async () => { while (Date.now() < until) await statusOf(genesys.axiosRef.get(ORG_ME)); }));
  const n = running.emulator.stats.tokenRequests - before;
  console.log('token requests in 1s with interval 0:', n, running.app.get(GenesysTokenService).getState().status);
  expect(n).toBeLessThan(10);
});

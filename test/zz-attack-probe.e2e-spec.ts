import { afterEach, expect, it } from '@jest/globals';
import { GenesysHttpService } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';

const ORG_ME = '/api/v2/organizations/me';
let running: EmulatedApp | undefined;
afterEach(async () => { await running?.close(); running = undefined; });

it('probe with an unserialisable body (in budget) loses the probe lease', async () => {
  running = await startEmulatedApp({ rateLimit: { requestsPerToken: 50, windowMs: 1000, maxWaitMs: 3000 } }, { apiRateLimit: false });
  const genesys = running.app.get(GenesysHttpService);
  await genesys.axiosRef.get(ORG_ME);
  running.emulator.rateLimitApi(1, 1);
  const r429 = await genesys.axiosRef.get(ORG_ME, { validateStatus: () => true }).catch((e: unknown) => e);
  // wait out the cool-down
  await sleep(1200);
  const bad = await genesys.axiosRef.post(ORG_ME, { n: 1n }).catch((e: unknown) => e);
  expect(String(bad)).toMatch(/BigInt/);
  const started = Date.now();
  const next = await genesys.axiosRef.get(ORG_ME).then((r) => r.status, (e: unknown) => String(e));
  console.log('after bad probe:', next, Date.now() - started, 'ms', r429 && (r429 as any).status);
  expect(next).toBe(200);
});

it('in-budget unserialisable body leaks budget (requestsPerToken 1)', async () => {
  running = await startEmulatedApp({ rateLimit: { requestsPerToken: 1, windowMs: 300, maxWaitMs: 2000 } }, { apiRateLimit: false });
  const genesys = running.app.get(GenesysHttpService);
  await genesys.axiosRef.get(ORG_ME);
  await sleep(400);
  const bad = await genesys.axiosRef.post(ORG_ME, { n: 1n }).catch((e: unknown) => e);
  expect(String(bad)).toMatch(/BigInt/);
  await sleep(400);
  const started = Date.now();
  const next = await genesys.axiosRef.get(ORG_ME).then((r) => r.status, (e: unknown) => String(e));
  console.log('after bad in-budget:', next, Date.now() - started, 'ms');
  expect(next).toBe(200);
});

import { afterEach, expect, it } from '@jest/globals';
import { GenesysHttpService, GenesysTokenService, MemoryTokenStore } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';

const ORG_ME = '/api/v2/organizations/me';
const REFUSED = { status: 401, body: { message: 'Authentication failed.', code: 'bad.credentials', status: 401 } };
let running: EmulatedApp | undefined;
afterEach(async () => { await running?.close(); running = undefined; });
const statusOf = (p: Promise<{ status: number }>) => p.then((r) => r.status, (e: any) => e?.response?.status ?? e?.code ?? String(e));

for (const withStore of [false, true]) {
  it(`API recovered from a 401 spell: callers served at once (store: ${withStore})`, async () => {
    running = await startEmulatedApp({ unauthorizedRenewalIntervalMs: 2000, ...(withStore ? { tokenStore: new MemoryTokenStore() } : {}) }, { apiRateLimit: false });
    const genesys = running.app.get(GenesysHttpService);
    const tokens = running.app.get(GenesysTokenService);
    await genesys.axiosRef.get(ORG_ME);
    running.emulator.inject('api', REFUSED);
    for (let i = 0; i < 4; i++) await statusOf(genesys.axiosRef.get(ORG_ME));
    console.log('state', tokens.getState().status);
    running.emulator.clearFaults();
    const results = [];
    for (let i = 0; i < 3; i++) { results.push(await statusOf(genesys.axiosRef.get(ORG_ME))); await sleep(100); }
    console.log('after recovery (store', withStore, ')', results, tokens.getState().status);
    expect(results).toEqual([200, 200, 200]);
  });
}

it('long login outage with steady traffic after failed start-up: token requests bounded', async () => {
  running = await startEmulatedApp({ fetchTokenOnStartup: true, retry: { initialDelayMs: 100, maxDelayMs: 400, maxAttempts: 3 } }, { apiRateLimit: false }, [], (e) => { e.inject('token', { status: 503, body: 'down' }); });
  const genesys = running.app.get(GenesysHttpService);
  const until = Date.now() + 3000;
  const seen: Record<string, number> = {};
  const durations: number[] = [];
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (Date.now() < until) {
      const t = Date.now();
      const s = await statusOf(genesys.axiosRef.get(ORG_ME));
      durations.push(Date.now() - t);
      seen[s] = (seen[s] ?? 0) + 1;
      await sleep(20);
    }
  }));
  console.log('outage: token requests', running.emulator.stats.tokenRequests, seen, 'max wait', Math.max(...durations));
  expect(running.emulator.stats.tokenRequests).toBeLessThan(20);
});

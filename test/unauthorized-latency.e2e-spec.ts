import { afterEach, expect, it } from '@jest/globals';
import { GenesysHttpService } from 'nestjs-genesys-auth';
import { sleep, startEmulatedApp, type EmulatedApp } from './support/app.js';
import { LoopStalls } from './support/loop-stalls.js';

// A latency bound, run in a jest process of its own (`npm run test:latency`, as the memory tests are): after
// dozens of other files in one worker, garbage collection alone can hold a caller past the bound.

const REFUSED = { status: 401, body: { message: 'Authentication failed.', code: 'bad.credentials', status: 401 } };

let running: EmulatedApp | undefined;
let stalls: LoopStalls | undefined;
afterEach(async () => {
  stalls?.stop();
  await running?.close();
  running = undefined;
});

it('401s from an API refusing every token cost at most one token request per doubling interval and answer every caller within a second', async () => {
  running = await startEmulatedApp();
  const genesys = running.app.get(GenesysHttpService);
  await genesys.axiosRef.get('/api/v2/organizations/me');
  running.emulator.inject('api', REFUSED);
  const until = Date.now() + 12_000;
  stalls = new LoopStalls();
  let slowest = 0;

  await Promise.all(
    Array.from({ length: 50 }, async (_, caller) => {
      await sleep(caller * 10); // callers of a service arrive over the first half second, not in one tick
      while (Date.now() < until) {
        const sentAt = Date.now();
        await genesys.axiosRef.get('/api/v2/organizations/me').catch(() => undefined);
        const answeredAt = Date.now();
        slowest = Math.max(slowest, stalls!.elapsedRunning(sentAt, answeredAt));
        await sleep(100); // callers of a service, not a tight loop: the point is that none waits in line
      }
    }),
  );

  // Time the whole process stood still (a busy CI machine) is not time the library made a caller wait.
  expect(slowest).toBeLessThan(1_000);
  expect(running.emulator.stats.tokenRequests).toBeLessThanOrEqual(5);
}, 20_000);

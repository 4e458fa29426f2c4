import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GenesysAuthModule, GenesysClientRegistry, GenesysHttpService } from 'nestjs-genesys-auth';
import { RETIRED_CLIENT_GRACE_MS } from '../lib/client/genesys-client.js';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';
import { compileForNode, startChild, type ChildApp } from './support/child-process.js';

// Runs as its own jest invocation (`npm run test:memory`), without --detectOpenHandles: that flag's
// async-hook bookkeeping of 100 000 requests makes the loop several times slower and skews the heap.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const REQUESTS = Number(process.env.MEMORY_REQUESTS ?? 100_000);
const CONCURRENCY = 100;
/** Heap growth allowed after the loop; a per-request leak of even 100 bytes would exceed it. */
const MAX_GROWTH_BYTES = 8 * 1024 * 1024;

function settledHeap(): number {
  for (let i = 0; i < 3; i++) collectGarbage();
  return process.memoryUsage().heapUsed;
}

describe('memory', () => {
  let running: EmulatedApp;
  let genesys: GenesysHttpService;

  beforeAll(async () => {
    // 100 000 requests on one token: far over Genesys' per-token limit, which this test does not measure.
    // Pacing on, with budget to spare (and a short window, so its bookkeeping stays small).
    running = await startEmulatedApp({ rateLimit: { requestsPerToken: 1_000_000_000, windowMs: 1_000 } }, { apiRateLimit: false });
    genesys = running.app.get(GenesysHttpService);
  });
  afterAll(() => running.close());

  async function signedRequests(count: number): Promise<void> {
    let sent = 0;
    const worker = async () => {
      while (sent < count) {
        sent++;
        await genesys.axiosRef.get('/api/v2/organizations/me');
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }

  it(`keeps heap growth bounded over ${REQUESTS} signed requests`, async () => {
    await signedRequests(5_000); // warm-up: JIT, sockets, emulator's bounded request log
    const before = settledHeap();

    await signedRequests(REQUESTS);

    const growth = settledHeap() - before;
    process.stdout.write(`\nheap growth after ${REQUESTS} signed requests: ${(growth / 1024 / 1024).toFixed(2)} MiB\n`);
    expect(growth).toBeLessThan(MAX_GROWTH_BYTES);
    expect(running.emulator.stats.tokenRequests).toBe(1);
  }, 180_000);
});

describe('memory of the client registry', () => {
  const CYCLES = 10_000;
  let emulatorProcess: ChildApp;
  let app: INestApplicationContext;
  let options: { clientId: string; clientSecret: string; loginBaseUrl: string; apiBaseUrl: string };

  beforeAll(async () => {
    // The emulator keeps every token it issues: in its own process it stays out of this heap.
    emulatorProcess = startChild(compileForNode('test/fixtures/emulator-process/main.ts'), {});
    const [, url] = await emulatorProcess.waitFor(/emulator at (http:\/\/[\d.]+:\d+)/);
    options = { clientId: 'emulator-client-id', clientSecret: 'emulator-client-secret', loginBaseUrl: url, apiBaseUrl: url };
    const moduleRef = await Test.createTestingModule({ imports: [GenesysAuthModule.forRegistry({ maxClients: 10 })] }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await emulatorProcess?.stop();
  });

  it(`keeps heap growth bounded over ${CYCLES} get/evict cycles, each client used once`, async () => {
    const registry = app.get(GenesysClientRegistry);
    const cycle = async (index: number) => {
      const client = await registry.get(`tenant-${index}`, options);
      await client.http.axiosRef.get('/api/v2/organizations/me');
    };
    // Evicted clients close once they have been quiet for the grace a retired client gets.
    const allRetiredClosed = () => new Promise((resolve) => setTimeout(resolve, RETIRED_CLIENT_GRACE_MS + 500));
    for (let index = 0; index < 500; index++) await cycle(index); // warm-up
    await allRetiredClosed();
    const before = settledHeap();

    for (let index = 0; index < CYCLES; index++) await cycle(index);
    await allRetiredClosed();

    const growth = settledHeap() - before;
    process.stdout.write(`\nheap growth after ${CYCLES} registry get/evict cycles: ${(growth / 1024 / 1024).toFixed(2)} MiB\n`);
    expect(registry.size).toBe(10);
    expect(growth).toBeLessThan(MAX_GROWTH_BYTES);
  }, 180_000);
});

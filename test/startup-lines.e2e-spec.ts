import { afterEach, describe, expect, it } from '@jest/globals';
import { MemoryTokenStore } from 'nestjs-genesys-auth';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';

describe('start-up log', () => {
  let running: EmulatedApp | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('says in one line at the normal level what the registration is: hosts, store, pool, budget, token status; no secret', async () => {
    running = await startEmulatedApp({ fetchTokenOnStartup: true, tokenPool: { size: 2 }, rateLimit: { requestsPerToken: 100, windowMs: 60_000 } });
    const { emulator, logs } = running;

    const lines = logs.lines.filter((line) => line.startsWith('log ') && line.includes('Genesys client'));

    expect(lines).toEqual([
      `log Genesys client (default): login ${new URL(emulator.url).host}, API ${emulator.url}, token store memory, pool of 2, 100 requests per 60000 ms per token; token valid GenesysAuth`,
    ]);
    expect(logs.lines.join('\n')).not.toContain(emulator.clientSecret);
  });

  it('names a registration and its shared store, and whether the store answered', async () => {
    running = await startEmulatedApp({ name: 'emea', tokenStore: new MemoryTokenStore(), rateLimit: false } as never);

    const line = running.logs.lines.find((candidate) => candidate.includes('Genesys client'));

    expect(line).toContain('Genesys client "emea"');
    expect(line).toContain('token store MemoryTokenStore (answering)');
    expect(line).toContain('pacing off; token no_token');
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { compileForNode, startChild, type ChildApp } from './support/child-process.js';
import { freeLoopbackPort, startLoopbackServer } from './support/loopback-server.js';
import { sleep } from './support/app.js';

/** Polls `url` until it answers `status`, for at most `timeoutMs`. */
async function untilStatus(url: string, status: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await fetch(url)).status;
    if (last === status) return last;
    await sleep(100);
  }
  return last;
}

/** The start-up behaviour of a real app, in a child `node` process that nothing but the app keeps alive. */
describe('an app started while the Genesys login is unreachable', () => {
  let script: string;
  let child: ChildApp | undefined;
  let emulator: GenesysCloudEmulator | undefined;

  beforeAll(() => {
    script = compileForNode('test/fixtures/startup-app/main.ts');
  }, 60_000);
  afterAll(async () => {
    await child?.stop();
    await emulator?.close();
  });

  it('listens, logs the failure, reports down on /health, and comes up without a restart once login returns', async () => {
    const loginPort = await freeLoopbackPort(); // nothing listens there: connections are refused
    const loginUrl = `http://127.0.0.1:${loginPort}`;
    child = startChild(script, {
      GENESYSCLOUD_OAUTHCLIENT_ID: 'startup-client',
      GENESYSCLOUD_OAUTHCLIENT_SECRET: 'startup-secret',
      GENESYSCLOUD_LOGIN_BASE_URL: loginUrl,
      GENESYSCLOUD_API_BASE_URL: loginUrl,
    });

    const [, appUrl] = await child.waitFor(/listening on (http:\/\/[\d.]+:\d+)/);
    expect(child.output()).toMatch(/Genesys token request to .* failed: ECONNREFUSED; retrying in \d+ ms/);
    expect((await fetch(`${appUrl}/health`)).status).toBe(503);

    emulator = await GenesysCloudEmulator.start({ port: loginPort, clientId: 'startup-client', clientSecret: 'startup-secret' });

    expect(await untilStatus(`${appUrl}/health`, 200, 10_000)).toBe(200);
    expect(emulator.stats.tokensIssued).toBe(1);
    expect(child.output()).not.toContain('startup-secret');
    expect([0, 'SIGTERM']).toContain(await child.stop()); // Nest's shutdown hook re-raises the signal after closing
  }, 40_000);

  it('is not held at start-up longer than one token request deadline by an endpoint that trickles its answer', async () => {
    const trickling = await startLoopbackServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      const drip = setInterval(() => response.write(' '), 200);
      response.on('close', () => clearInterval(drip));
    });
    const started = Date.now();
    child = startChild(script, {
      GENESYSCLOUD_OAUTHCLIENT_ID: 'startup-client',
      GENESYSCLOUD_OAUTHCLIENT_SECRET: 'startup-secret',
      GENESYSCLOUD_LOGIN_BASE_URL: trickling.url,
      GENESYSCLOUD_API_BASE_URL: trickling.url,
      TOKEN_REQUEST_TIMEOUT_MS: '1000',
    });

    try {
      await child.waitFor(/listening on/);
      // Node start-up and Nest's own boot take a second or two on a busy machine; the token request is cut at 1 s.
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(child.output()).toMatch(/no complete answer within 1000 ms/);
    } finally {
      await child.stop();
      await trickling.close();
    }
  }, 30_000);
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GenesysHttpService } from 'nestjs-genesys-auth';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';
import { startRecordingServer, type RecordingServer } from './support/recording-server.js';

/**
 * Real requests over loopback: the emulator is the API origin (http://127.0.0.1:E); the other
 * servers are "foreign hosts" on other loopback addresses and ports. None of them may see a token.
 * (Look-alike domain names, other regions and https/http downgrades need DNS or TLS and are
 * covered by the origin table in interceptor.spec.ts.)
 */
describe('no token leaves for any origin but the API', () => {
  let running: EmulatedApp;
  let genesys: GenesysHttpService;
  let otherPort: RecordingServer;
  let otherAddress: RecordingServer;
  let ipv6: RecordingServer | undefined;
  let port: string;

  beforeAll(async () => {
    running = await startEmulatedApp();
    genesys = running.app.get(GenesysHttpService);
    port = new URL(running.emulator.url).port;
    otherPort = await startRecordingServer('127.0.0.1');
    otherAddress = await startRecordingServer('127.0.0.2', Number(port));
    ipv6 = await startRecordingServer('::1', Number(port)).catch(() => undefined); // hosts without IPv6 skip those rows
  });
  afterAll(async () => {
    await running.close();
    await Promise.all([otherPort.close(), otherAddress.close(), ipv6?.close()]);
  });

  type Row = [string, () => string, () => RecordingServer | undefined];
  const direct: Row[] = [
    ['same host, another port', () => `${otherPort.url}/api/v2/organizations/me`, () => otherPort],
    ['another loopback address, same port', () => `http://127.0.0.2:${port}/api/v2/organizations/me`, () => otherAddress],
    ['IPv6 loopback, same port', () => `http://[::1]:${port}/api/v2/organizations/me`, () => ipv6],
    ['the API origin as user info', () => `http://127.0.0.1:${port}@127.0.0.2:${port}/api/v2/organizations/me`, () => otherAddress],
  ];

  it.each(direct)('direct request to %s carries no token', async (_, url, server) => {
    const target = server();
    if (!target) return;
    const before = target.received.length;

    await genesys.axiosRef.get(url());

    expect(target.received).toHaveLength(before + 1);
    expect(target.received.at(-1)?.authorization ?? '').not.toMatch(/bearer/i);
  });

  const redirects: Row[] = [
    ['same host, another port', () => `${otherPort.url}/landing`, () => otherPort],
    ['another loopback address, same port', () => `http://127.0.0.2:${port}/landing`, () => otherAddress],
    ['IPv6 loopback, same port', () => `http://[::1]:${port}/landing`, () => ipv6],
  ];

  it.each(redirects)('a redirect from the API to %s drops the token', async (_, location, server) => {
    const target = server();
    if (!target) return;
    running.emulator.inject('api', { status: 302, headers: { Location: location() } }, 1);

    await genesys.axiosRef.get('/api/v2/organizations/me');

    expect(running.emulator.apiRequests.at(-1)?.headers.authorization).toMatch(/^Bearer /);
    expect(target.received.at(-1)?.authorization).toBeUndefined();
  });

  it('a same-origin redirect keeps the token, and a second hop to another origin drops it', async () => {
    running.emulator.inject('api', { status: 307, headers: { Location: '/api/v2/organizations/me?hop=1' } }, 1);
    running.emulator.inject('api', { status: 302, headers: { Location: `${otherPort.url}/second-hop` } }, 1);
    const before = running.emulator.apiRequests.length;

    await genesys.axiosRef.get('/api/v2/organizations/me');

    const hops = running.emulator.apiRequests.slice(before);
    expect(hops.map((hop) => hop.headers.authorization)).toEqual([expect.stringMatching(/^Bearer /), expect.stringMatching(/^Bearer /)]);
    expect(otherPort.received.at(-1)?.authorization).toBeUndefined();
  });

  it('the API origin written as a decimal IP is still the API origin, and is signed', async () => {
    await genesys.axiosRef.get(`http://2130706433:${port}/api/v2/organizations/me`);

    expect(running.emulator.apiRequests.at(-1)?.headers.authorization).toMatch(/^Bearer /);
  });
});

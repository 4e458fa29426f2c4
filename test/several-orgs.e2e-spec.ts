import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { isAxiosError } from 'axios';
import {
  GenesysAuthModule,
  GenesysClient,
  GenesysClientRegistry,
  GenesysHttpService,
  GenesysTokenService,
  getGenesysClientToken,
  getGenesysHttpServiceToken,
  getGenesysTokenServiceToken,
  InjectGenesysClient,
  InjectGenesysHttp,
  InjectGenesysTokens,
  type GenesysAuthModuleOptions,
} from 'nestjs-genesys-auth';
import { GenesysAuthHealthIndicator } from 'nestjs-genesys-auth/health';
import { GenesysCloudEmulator, type EmulatedClient } from 'nestjs-genesys-auth/testing';
import { RETIRED_CLIENT_GRACE_MS } from '../lib/client/genesys-client.js';
import { sleep } from './support/app.js';
import { LoopStalls } from './support/loop-stalls.js';
import { startLoopbackServer } from './support/loopback-server.js';

const CLIENTS: EmulatedClient[] = Array.from({ length: 60 }, (_, index) => ({
  clientId: `client-${index}`,
  clientSecret: `secret-of-client-${index}-0123456789`,
  orgName: `Org ${index}`,
}));
const ORG_ME = '/api/v2/organizations/me';
const expectClient = (clientId: string) => ({ headers: { 'x-emulator-expect-client': clientId } });

@Injectable()
class Orgs {
  constructor(
    @InjectGenesysHttp('emea') readonly emea: GenesysHttpService,
    @InjectGenesysHttp('apac') readonly apac: GenesysHttpService,
    @InjectGenesysTokens('emea') readonly emeaTokens: GenesysTokenService,
    @InjectGenesysClient('apac') readonly apacClient: GenesysClient,
  ) {}
}

@Module({ imports: [TerminusModule], providers: [GenesysAuthHealthIndicator] })
class HealthModule {}

describe('several orgs in one app', () => {
  let emulator: GenesysCloudEmulator;
  let app: INestApplicationContext | undefined;
  beforeAll(async () => {
    emulator = await GenesysCloudEmulator.start({ clients: CLIENTS, apiRateLimit: false });
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    emulator.resetStats();
  });
  afterAll(() => emulator.close());

  const optionsFor = (index: number): GenesysAuthModuleOptions => ({ ...emulator.moduleOptions(`client-${index}`), fetchTokenOnStartup: false });

  async function boot(imports: unknown[], providers: unknown[] = []): Promise<INestApplicationContext> {
    const moduleRef = await Test.createTestingModule({ imports: imports as never[], providers: providers as never[] }).compile();
    moduleRef.useLogger(false);
    app = await moduleRef.init();
    return app;
  }

  const bootFailure = (imports: unknown[]) =>
    boot(imports).then(
      () => new Error('expected start-up to fail'),
      (error: unknown) => error,
    );

  describe('named registrations', () => {
    const threeOrgs = () => [
      GenesysAuthModule.forRoot(optionsFor(0)),
      GenesysAuthModule.forRoot({ ...optionsFor(1), name: 'emea' }),
      GenesysAuthModule.forRootAsync({ name: 'apac', useFactory: () => optionsFor(2) }),
    ];

    it('give each registration its own org, injected by name, beside the unnamed one', async () => {
      const ctx = await boot(threeOrgs(), [Orgs]);
      const orgs = ctx.get(Orgs);

      const names = await Promise.all([ctx.get(GenesysHttpService), orgs.emea, orgs.apac].map(async (http) => (await http.axiosRef.get<{ name: string }>(ORG_ME)).data.name));

      expect(names).toEqual(['Org 0', 'Org 1', 'Org 2']);
      expect(orgs.emeaTokens).toBe(ctx.get(getGenesysTokenServiceToken('emea')));
      expect(orgs.apacClient.http).toBe(orgs.apac);
      expect(ctx.get(GenesysTokenService)).not.toBe(orgs.emeaTokens);
    });

    it('never send one registration’s token on another’s request under concurrent traffic', async () => {
      const ctx = await boot(threeOrgs());
      const clients: [InjectionTokenLike, string][] = [
        [GenesysHttpService, 'client-0'],
        [getGenesysHttpServiceToken('emea'), 'client-1'],
        [getGenesysHttpServiceToken('apac'), 'client-2'],
      ];

      const results = await Promise.allSettled(
        Array.from({ length: 300 }, (_, index) => {
          const [token, clientId] = clients[index % 3];
          return ctx.get<GenesysHttpService>(token).axiosRef.get(ORG_ME, expectClient(clientId));
        }),
      );

      expect(results.filter((result) => result.status === 'rejected')).toHaveLength(0);
      expect(emulator.stats.clientMismatches).toBe(0);
      expect(emulator.stats.requestsByClient).toMatchObject({ 'client-0': 100, 'client-1': 100, 'client-2': 100 });
    });

    it('fail at start-up when two registrations share a name, naming it', async () => {
      const failure = await bootFailure([GenesysAuthModule.forRoot({ ...optionsFor(0), name: 'emea' }), GenesysAuthModule.forRoot({ ...optionsFor(1), name: 'emea' })]);

      expect(failure).toMatchObject({ name: 'GenesysAuthError', code: 'invalid_options', message: expect.stringContaining('2 registrations named "emea"') });
    });

    it('name the modules that import each of two registrations sharing a name', async () => {
      @Module({ imports: [GenesysAuthModule.forRoot({ ...optionsFor(0), name: 'emea' })] })
      class SalesModule {}
      @Module({ imports: [GenesysAuthModule.forRoot({ ...optionsFor(1), name: 'emea' })] })
      class SupportModule {}

      const failure = await bootFailure([SalesModule, SupportModule]);

      expect(failure).toMatchObject({ code: 'invalid_options', message: expect.stringContaining('imported by SalesModule and SupportModule') });
    });

    it('fail at start-up when two registrations have no name', async () => {
      const failure = await bootFailure([GenesysAuthModule.forRoot(optionsFor(0)), GenesysAuthModule.forRoot({ ...optionsFor(1), isGlobal: true })]);

      expect(failure).toMatchObject({ code: 'invalid_options', message: expect.stringContaining('2 registrations without a name') });
    });

    it('fetch their first tokens side by side at start-up, so a hanging login holds it up one deadline, not one per registration', async () => {
      const hanging = await startLoopbackServer(() => undefined);
      const stalls = new LoopStalls();
      try {
        const started = Date.now();
        await boot(
          ['a', 'b', 'c', 'd'].map((name) =>
            GenesysAuthModule.forRoot({ ...optionsFor(0), name, loginBaseUrl: hanging.url, fetchTokenOnStartup: true, tokenRequestTimeoutMs: 400 }),
          ),
        );

        // Waiting for login leaves the loop free; booting Nest and a busy machine do not, and are left out.
        const bootedAt = Date.now();
        expect(stalls.elapsedRunning(started, bootedAt)).toBeLessThan(1_200);
      } finally {
        stalls.stop();
        await app?.close();
        app = undefined;
        await hanging.close();
      }
    });

    it('refuse a name that is not a short identifier', () => {
      expect(() => GenesysAuthModule.forRoot({ ...optionsFor(0), name: 'has spaces' })).toThrow(/option "name"/);
    });

    it('are each reported by the health indicator, by name or all at once', async () => {
      const ctx = await boot([...threeOrgs(), HealthModule]);
      await ctx.get<GenesysTokenService>(getGenesysTokenServiceToken('emea')).getToken();
      const health = ctx.get(GenesysAuthHealthIndicator);

      const emea = await health.isHealthy('genesys-emea', { name: 'emea' });
      const all = await health.isHealthyAll();
      const unknown = await health.isHealthy('genesys-nowhere', { name: 'nowhere' });

      expect(emea['genesys-emea']).toMatchObject({ status: 'up', tokenStatus: 'valid' });
      expect(Object.keys(all).sort()).toEqual(['genesys', 'genesys-apac', 'genesys-emea']);
      expect(all['genesys-emea'].status).toBe('up');
      expect(all['genesys'].status).toBe('down'); // no token fetched yet
      expect(unknown['genesys-nowhere']).toMatchObject({ status: 'down', message: expect.stringContaining('named "nowhere"') });
    });
    it('are the only clients the health indicator reports: not a registry client, nor a registration provided again under another token', async () => {
      const ctx = await boot(
        [GenesysAuthModule.forRoot({ ...optionsFor(1), name: 'emea' }), GenesysAuthModule.forRegistry({ defaults: { loginBaseUrl: emulator.url, apiBaseUrl: emulator.url } }), HealthModule],
        [
          { provide: 'tenant-client', useFactory: (registry: GenesysClientRegistry) => registry.get('tenant', { clientId: 'client-2', clientSecret: CLIENTS[2].clientSecret }), inject: [GenesysClientRegistry] },
          { provide: 'emea-alias', useExisting: getGenesysClientToken('emea') },
        ],
      );

      const all = await ctx.get(GenesysAuthHealthIndicator).isHealthyAll();

      expect(ctx.get('tenant-client')).toBeInstanceOf(GenesysClient);
      expect(Object.keys(all)).toEqual(['genesys-emea']);
    });

    it('leave the health indicator reporting none when there is none', async () => {
      const health = (await boot([HealthModule])).get(GenesysAuthHealthIndicator);

      expect(await health.isHealthyAll()).toEqual({});
      expect((await health.isHealthy()).genesys).toMatchObject({ status: 'down', message: expect.stringContaining('without a name') });
    });
  });

  describe('the runtime registry', () => {
    const bootRegistry = async (options: Parameters<typeof GenesysAuthModule.forRegistry>[0] = {}) =>
      (await boot([GenesysAuthModule.forRegistry({ defaults: { loginBaseUrl: emulator.url, apiBaseUrl: emulator.url }, ...options })])).get(GenesysClientRegistry);
    const credentialsOf = (index: number) => ({ clientId: `client-${index}`, clientSecret: CLIENTS[index].clientSecret });

    it('creates a client on first use and hands out the same one after', async () => {
      const registry = await bootRegistry();

      const [first, concurrent] = await Promise.all([registry.get('tenant-7', credentialsOf(7)), registry.get('tenant-7', credentialsOf(7))]);
      const again = await registry.get('tenant-7');

      expect(first).toBe(concurrent);
      expect(again).toBe(first);
      expect((await first.http.axiosRef.get<{ name: string }>(ORG_ME)).data.name).toBe('Org 7');
    });

    it('asks resolveOptions for a key only when no client is held for it', async () => {
      const asked: string[] = [];
      const registry = await bootRegistry({ resolveOptions: async (key) => (asked.push(key), credentialsOf(Number(key.split('-')[1]))) });

      const clients = await Promise.all([registry.get('tenant-3'), registry.get('tenant-3'), registry.get('tenant-4')]);
      await registry.get('tenant-3');

      expect(asked).toEqual(['tenant-3', 'tenant-4']);
      expect((await clients[2].http.axiosRef.get<{ name: string }>(ORG_ME)).data.name).toBe('Org 4');
    });

    it('replaces and closes the client of a key that comes with other credentials', async () => {
      const registry = await bootRegistry();
      const old = await registry.get('tenant', credentialsOf(1));
      await old.tokens.getToken();

      const replaced = await registry.get('tenant', credentialsOf(2));
      await sleep(RETIRED_CLIENT_GRACE_MS + 100);

      expect(replaced).not.toBe(old);
      expect(old.tokens.getState()).toMatchObject({ status: 'stopped', hasValidToken: false });
      expect((await replaced.http.axiosRef.get<{ name: string }>(ORG_ME)).data.name).toBe('Org 2');
    });

    it('closes clients idle longer than idleTimeoutMs', async () => {
      const registry = await bootRegistry({ idleTimeoutMs: 100 });
      const idle = await registry.get('idle', credentialsOf(1));
      await idle.http.axiosRef.get(ORG_ME);

      await sleep(RETIRED_CLIENT_GRACE_MS + 300);

      expect(registry.size).toBe(0);
      expect(idle.tokens.getState().status).toBe('stopped');
    });

    it('closes the least recently used client beyond maxClients', async () => {
      const registry = await bootRegistry({ maxClients: 2 });
      const first = await registry.get('a', credentialsOf(1));
      await registry.get('b', credentialsOf(2));
      await registry.get('a');

      await registry.get('c', credentialsOf(3));
      await sleep(20);

      expect(registry.keys()).toEqual(['a', 'c']);
      expect(first.tokens.getState().status).not.toBe('stopped');
    });

    it('closes a removed client, and every client on shutdown', async () => {
      const registry = await bootRegistry();
      const removed = await registry.get('removed', credentialsOf(1));
      const kept = await registry.get('kept', credentialsOf(2));

      expect(await registry.remove('removed')).toBe(true);
      await app!.close();
      app = undefined;

      expect(removed.tokens.getState().status).toBe('stopped');
      expect(kept.tokens.getState().status).toBe('stopped');
      await expect(registry.get('kept')).rejects.toMatchObject({ code: 'shutdown' });
    });

    it('keeps an evicted client usable for a caller that got it just before, then says why it was closed', async () => {
      const registry = await bootRegistry({ maxClients: 1 });
      const evicted = await registry.get('a', credentialsOf(1));
      await registry.get('b', credentialsOf(2));
      await sleep(50); // e.g. the caller's own database read between get() and the request

      await expect(evicted.http.axiosRef.get(ORG_ME)).resolves.toMatchObject({ status: 200 });
      await sleep(RETIRED_CLIENT_GRACE_MS + 100);
      await expect(evicted.http.axiosRef.get(ORG_ME)).rejects.toMatchObject({
        code: 'shutdown',
        message: expect.stringContaining('"a" was evicted from the registry as least recently used'),
      });
    });

    it('waits for a request in flight before closing a removed client, even when an interceptor of the app failed another request', async () => {
      const registry = await bootRegistry();
      const client = await registry.get('t', credentialsOf(1));
      client.http.axiosRef.interceptors.request.use((config) => {
        if (config.headers.get('x-break')) throw new Error('refused by the app');
        return config;
      });
      await client.http.axiosRef.get(ORG_ME, { headers: { 'x-break': '1' } }).catch(() => undefined);
      emulator.inject('api', { delayMs: RETIRED_CLIENT_GRACE_MS + 600 }, 1); // outlasts the grace a retired client gets
      const slow = client.http.axiosRef.get(ORG_ME);
      await sleep(50);

      await registry.remove('t');

      await expect(slow).resolves.toMatchObject({ status: 200 });
    });

    it('serves a request waiting for budget on a replaced client with that client’s own token, within its maxWaitMs', async () => {
      const registry = await bootRegistry({
        defaults: { loginBaseUrl: emulator.url, apiBaseUrl: emulator.url, rateLimit: { requestsPerToken: 1, windowMs: 2_500, maxWaitMs: 6_000 }, tokenRequestTimeoutMs: 300, apiRequestTimeoutMs: 300 },
      });
      const client = await registry.get('t', credentialsOf(1));
      await client.http.axiosRef.get(ORG_ME);
      const waiting = client.http.axiosRef.get(ORG_ME, expectClient('client-1'));
      await sleep(50);

      await registry.get('t', credentialsOf(2));

      await expect(waiting).resolves.toMatchObject({ status: 200, data: { name: 'Org 1' } });
      expect(emulator.stats.clientMismatches).toBe(0);
    }, 10_000);

    it('refuses a key with blanks or control characters and options without credentials, with invalid_options', async () => {
      const registry = await bootRegistry();

      await expect(registry.get('has blank', credentialsOf(1))).rejects.toMatchObject({ code: 'invalid_options' });
      await expect(registry.get('\u001b[31mred', credentialsOf(1))).rejects.toMatchObject({ code: 'invalid_options' });
      await expect(registry.get('no-credentials', {})).rejects.toMatchObject({ code: 'invalid_options', message: expect.stringContaining('clientId') });
      await expect(registry.get('unknown')).rejects.toMatchObject({ code: 'invalid_options', message: expect.stringContaining('resolveOptions') });
    });

    it('sends each of 50 clients’ requests with its own token, and evicting under load fails no request in flight', async () => {
      const registry = await bootRegistry({ maxClients: 20 });
      emulator.inject('api', { delayMs: 30 }); // keeps requests in flight while clients are evicted

      const results = await Promise.allSettled(
        Array.from({ length: 500 }, async (_, index) => {
          const tenant = index % 50;
          const client = await registry.get(`tenant-${tenant}`, credentialsOf(tenant));
          return client.http.axiosRef.get(ORG_ME, expectClient(`client-${tenant}`));
        }),
      );
      emulator.clearFaults();

      expect(results.filter((result) => result.status === 'rejected').map((result) => inspect((result as PromiseRejectedResult).reason).slice(0, 300))).toEqual([]);
      expect(emulator.stats.clientMismatches).toBe(0);
      expect(registry.size).toBe(20);
    });

    it('redacts every token from a failed request, whichever client sent it', async () => {
      const registry = await bootRegistry();
      const clients = await Promise.all([1, 2, 3].map((index) => registry.get(`t${index}`, credentialsOf(index))));
      await Promise.all(clients.map((client) => client.http.axiosRef.get(ORG_ME)));
      emulator.inject('api', { status: 500, body: 'boom' }, 1);

      const error = await clients[1].http.axiosRef.get(ORG_ME).catch((e: unknown) => e);

      expect(isAxiosError(error) && error.response?.status).toBe(500);
      const shown = `${inspect(error, { depth: 12, showHidden: true })}${JSON.stringify(error)}`;
      for (const token of emulator.issuedTokens) expect(shown).not.toContain(token);
    });
  });
});

type InjectionTokenLike = Parameters<INestApplicationContext['get']>[0];

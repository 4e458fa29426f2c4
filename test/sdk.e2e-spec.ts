import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import platformClient from 'purecloud-platform-client-v2';
import {
  GenesysAuthModule,
  GenesysClient,
  GenesysClientRegistry,
  getGenesysClientToken,
  type GenesysAuthModuleOptions,
} from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import {
  GenesysPlatformClient,
  GenesysSdkModule,
  getGenesysPlatformClientToken,
  InjectGenesysPlatformClient,
} from '../lib/sdk/index.js';
import { compileForNode } from './support/child-process.js';

const CLIENTS = [
  { clientId: 'client-a', clientSecret: 'secret-of-client-a-0123456789', orgName: 'Org A' },
  { clientId: 'client-b', clientSecret: 'secret-of-client-b-0123456789', orgName: 'Org B' },
];

/** The SDK's singleton `ApiClient.instance` (a static property of its ApiClient class) and its configuration's. */
function sdkSingletons() {
  const ApiClient = platformClient.ApiClientClass;
  const Configuration = platformClient.ApiClient.config.constructor;
  return {
    apiClient: Object.getOwnPropertyDescriptor(ApiClient, 'instance'),
    configuration: Object.getOwnPropertyDescriptor(Configuration, 'instance'),
  };
}

/** How many listeners Node's shared watcher of the SDK's config file has (each SDK ApiClient adds one). */
function configFileListeners(): number {
  const path = join(homedir(), '.genesyscloudjavascript', 'config');
  const probe = () => undefined;
  const count = watchFile(path, { persistent: false }, probe).listenerCount('change') - 1;
  unwatchFile(path, probe);
  return count;
}

/** Every way a value could reach a log line or an HTTP response. */
function renderings(value: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    json = `unserialisable: ${String(error)}`;
  }
  return `${json}\n${inspect(value, { depth: 12, showHidden: true })}\n${String(value)}`;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

// This file is the app here, and the SDK's ApiClient.instance (created as the SDK loaded) is its own: it stops that
// instance's config-file watch, whose listener would otherwise run after Jest tore this file's modules down.
afterAll(() => {
  platformClient.ApiClient.config.live_reload_config = false;
});

describe('nestjs-genesys-auth/sdk: the official SDK on the managed token', () => {
  let emulator: GenesysCloudEmulator;
  let app: INestApplicationContext | undefined;
  const singletonsAtStart = sdkSingletons();

  beforeAll(async () => {
    emulator = await GenesysCloudEmulator.start({ clients: CLIENTS, apiRateLimit: false });
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    emulator.clearFaults();
    emulator.resetStats();
  });
  afterAll(() => emulator.close());

  const optionsFor = (clientId: string, extra: Partial<GenesysAuthModuleOptions> = {}): GenesysAuthModuleOptions => ({
    ...emulator.moduleOptions(clientId),
    fetchTokenOnStartup: false,
    ...extra,
  });

  /** An app with the unnamed registration for client-a and its platform client. */
  async function startUnnamed(extra: Partial<GenesysAuthModuleOptions> = {}): Promise<GenesysPlatformClient> {
    const moduleRef = await Test.createTestingModule({
      imports: [GenesysAuthModule.forRoot({ ...optionsFor('client-a', extra), isGlobal: true }), GenesysSdkModule.forFeature()],
    }).compile();
    app = await moduleRef.init();
    return app.get(GenesysPlatformClient);
  }

  it('makes typed UsersApi, OrganizationApi and RoutingApi calls with the managed token', async () => {
    const genesys = await startUnnamed();
    const me = await genesys.api(platformClient.UsersApi).getUsersMe();
    const org = await genesys.api(platformClient.OrganizationApi).getOrganizationsMe();
    const queues = await genesys.api(platformClient.RoutingApi).getRoutingQueues({ pageSize: 5, pageNumber: 2 });

    expect(me.id).toEqual(expect.any(String));
    expect(org.name).toBe('Org A');
    expect(queues.pageSize).toBe(5);
    expect(queues.pageNumber).toBe(2);
    expect(queues.entities?.length).toBeGreaterThan(0);
    expect(emulator.stats.tokenRequests).toBe(1);
    const token = emulator.lastIssuedToken!;
    expect(emulator.apiRequests.map((request) => [request.method, request.path.split('?')[0], request.headers.authorization])).toEqual([
      ['GET', '/api/v2/users/me', `Bearer ${token}`],
      ['GET', '/api/v2/organizations/me', `Bearer ${token}`],
      ['GET', '/api/v2/routing/queues', `Bearer ${token}`],
    ]);
    expect(emulator.apiRequests[2].path).toMatch(/pageSize=5/);
    // One API class instance per class and registration.
    expect(genesys.api(platformClient.RoutingApi)).toBe(genesys.api(platformClient.RoutingApi));
    expect(genesys.apiClient).not.toBe(platformClient.ApiClient);
  });

  it('keeps working after every token is revoked: one renewal, no caller-visible 401', async () => {
    // The library refuses to renew a token younger than unauthorizedRenewalIntervalMs (default 5 s; it stops a
    // misconfigured client from hammering the login endpoint). The token here is milliseconds old: allow renewal at once.
    const genesys = await startUnnamed({ unauthorizedRenewalIntervalMs: 0 });
    await genesys.api(platformClient.UsersApi).getUsersMe();
    const first = emulator.lastIssuedToken;
    emulator.revokeAllTokens();

    const [me, org, queues] = await Promise.all([
      genesys.api(platformClient.UsersApi).getUsersMe(),
      genesys.api(platformClient.OrganizationApi).getOrganizationsMe(),
      genesys.api(platformClient.RoutingApi).getRoutingQueues({ pageSize: 100 }),
    ]);

    expect(me.id).toEqual(expect.any(String));
    expect(org.name).toBe('Org A');
    expect(queues.entities?.length).toBeGreaterThan(0);
    expect(emulator.stats.tokenRequests).toBe(2); // the first token and one renewal, shared by the three calls
    expect(emulator.lastIssuedToken).not.toBe(first);
  });

  it('reaches each org through its own named registration', async () => {
    @Injectable()
    class Orgs {
      constructor(
        @InjectGenesysPlatformClient('a') readonly a: GenesysPlatformClient,
        @InjectGenesysPlatformClient('b') readonly b: GenesysPlatformClient,
      ) {}
    }
    // Registration "b" is not global: the SDK module finds it in the application on first use, as the health indicator does.
    @Module({ imports: [GenesysAuthModule.forRoot({ ...optionsFor('client-b'), name: 'b' })] })
    class OrgBModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        GenesysAuthModule.forRoot({ ...optionsFor('client-a'), name: 'a', isGlobal: true }),
        OrgBModule,
        GenesysSdkModule.forFeature({ name: 'a' }),
        GenesysSdkModule.forFeature({ name: 'b' }),
      ],
      providers: [Orgs],
    }).compile();
    app = await moduleRef.init();
    const orgs = app.get(Orgs);

    const [orgA, orgB, meA, meB] = await Promise.all([
      orgs.a.api(platformClient.OrganizationApi).getOrganizationsMe(),
      orgs.b.api(platformClient.OrganizationApi).getOrganizationsMe(),
      orgs.a.api(platformClient.UsersApi).getUsersMe(),
      orgs.b.api(platformClient.UsersApi).getUsersMe(),
    ]);

    expect([orgA.name, orgB.name]).toEqual(['Org A', 'Org B']);
    expect(meA.id).not.toBe(meB.id);
    expect(emulator.stats.requestsByClient).toEqual({ 'client-a': 2, 'client-b': 2 });
    expect(orgs.a.apiClient).not.toBe(orgs.b.apiClient);
    expect(orgs.a.client).toBe(app.get(getGenesysClientToken('a')));
    expect(orgs.b.client).toBe(app.get(getGenesysClientToken('b'), { strict: false }));
    expect(app.get(getGenesysPlatformClientToken('a'))).toBe(orgs.a);
  });

  it('works for a registry client through GenesysPlatformClient.for(client)', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [GenesysAuthModule.forRegistry({ resolveOptions: (key) => optionsFor(key) })],
    }).compile();
    app = await moduleRef.init();
    const registry = app.get(GenesysClientRegistry);
    const client: GenesysClient = await registry.get('client-b');

    const org = await GenesysPlatformClient.for(client).api(platformClient.OrganizationApi).getOrganizationsMe();

    expect(org.name).toBe('Org B');
    expect(GenesysPlatformClient.for(client)).toBe(GenesysPlatformClient.for(client));
  });

  it('rejects API errors in the SDK own shape, as its default HTTP client does, with no token in them', async () => {
    const genesys = await startUnnamed();
    const users = genesys.api(platformClient.UsersApi);
    const notFound = await rejectionOf(users.getUser('no-such-user'));

    // The same call through the plain SDK (its DefaultHttpClient, a token set by hand) for comparison.
    const plain = new platformClient.ApiClientClass();
    (plain.config as unknown as { basePath: string }).basePath = emulator.apiBaseUrl;
    plain.setAccessToken(emulator.lastIssuedToken!);
    const plainNotFound = await rejectionOf(new platformClient.UsersApi(plain).getUser('no-such-user'));
    expect(notFound).toEqual(plainNotFound);
    expect(notFound).toEqual({ message: 'No route for GET /api/v2/users/no-such-user', code: 'not.found', status: 404 });

    emulator.inject('api', { status: 500, body: { message: 'Internal error', code: 'internal.server.error', status: 500 } }, 1);
    const serverError = await rejectionOf(genesys.api(platformClient.OrganizationApi).getOrganizationsMe());
    expect(serverError).toEqual({ message: 'Internal error', code: 'internal.server.error', status: 500 });

    for (const token of emulator.issuedTokens) {
      expect(renderings(notFound)).not.toContain(token);
      expect(renderings(serverError)).not.toContain(token);
    }
  });

  it('with extended responses, rejects { status, headers, body, error } with the token redacted everywhere in it', async () => {
    // A token refused twice (renewal too) ends in an error whose request did carry tokens: the hardest case for redaction.
    const genesys = await startUnnamed({ unauthorizedRenewalIntervalMs: 0 });
    genesys.apiClient.setReturnExtendedResponses(true);
    const ok = (await genesys.api(platformClient.UsersApi).getUsersMe()) as unknown as { status: number; body: { id: string } };
    expect(ok.status).toBe(200);
    expect(ok.body.id).toEqual(expect.any(String));

    const notFound = (await rejectionOf(genesys.api(platformClient.UsersApi).getUser('missing'))) as Record<string, unknown>;
    expect(notFound).toMatchObject({ status: 404, body: { code: 'not.found', status: 404 } });
    expect(notFound.error).toBeInstanceOf(Error);

    emulator.inject('api', { status: 401, body: { message: 'Authentication failed.', code: 'bad.credentials', status: 401 } }, 2);
    const unauthorized = (await rejectionOf(genesys.api(platformClient.OrganizationApi).getOrganizationsMe())) as Record<string, unknown>;
    expect(unauthorized).toMatchObject({ status: 401, body: { code: 'bad.credentials' } });

    expect(emulator.stats.tokenRequests).toBe(2); // the refused token and its renewal, both carried by the failed request
    for (const token of emulator.issuedTokens) {
      expect(renderings(notFound)).not.toContain(token);
      expect(renderings(unauthorized)).not.toContain(token);
    }
  });

  it('replays a 429 after its Retry-After: the caller sees none', async () => {
    const genesys = await startUnnamed();
    await genesys.api(platformClient.UsersApi).getUsersMe();
    emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 1, times: 1 });

    const startedAt = Date.now();
    const queues = await genesys.api(platformClient.RoutingApi).getRoutingQueues({ pageSize: 100 });

    expect(queues.entities?.length).toBeGreaterThan(0);
    expect(emulator.stats.rateLimited).toBe(1);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(emulator.apiRequests.filter((request) => request.path.startsWith('/api/v2/routing/queues'))).toHaveLength(2);
  });

  it('drops an Authorization header the SDK adds (setAccessToken): the managed token signs', async () => {
    const genesys = await startUnnamed();
    genesys.apiClient.setAccessToken('a-token-the-sdk-holds');
    await genesys.api(platformClient.UsersApi).getUsersMe();
    expect(emulator.apiRequests[0].headers.authorization).toBe(`Bearer ${emulator.lastIssuedToken}`);
  });

  it('leaves the SDK singleton ApiClient.instance, Configuration.instance and the config-file watcher as they were', async () => {
    const listenersBefore = configFileListeners();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [GenesysAuthModule.forRegistry({ resolveOptions: () => optionsFor('client-a') })],
      }).compile();
      app = await moduleRef.init();
      const registry = app.get(GenesysClientRegistry);
      // 15 units, 15 ApiClients: the SDK would leave 15 listeners on one watcher (Node warns past 10).
      for (let index = 0; index < 15; index++) {
        await GenesysPlatformClient.for(await registry.get(`tenant-${index}`)).api(platformClient.UsersApi).getUsersMe();
      }
      expect(sdkSingletons()).toEqual(singletonsAtStart);
      expect(platformClient.ApiClient.instance).toBe(platformClient.ApiClient); // the SDK's own, created when it loaded
      expect(configFileListeners()).toBe(listenersBefore);

      // Even where no singleton exists yet, creating ours does not create one.
      const ApiClient = platformClient.ApiClientClass as unknown as { instance?: unknown };
      const saved = Object.getOwnPropertyDescriptor(ApiClient, 'instance')!;
      delete ApiClient.instance;
      try {
        GenesysPlatformClient.for(await registry.get('tenant-without-singleton')).api(platformClient.UsersApi);
        expect(Object.getOwnPropertyDescriptor(ApiClient, 'instance')).toBeUndefined();
      } finally {
        Object.defineProperty(ApiClient, 'instance', saved);
      }
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
    expect(sdkSingletons()).toEqual(singletonsAtStart);
  });

  it('is not loaded by the root entry or /health, in CommonJS and ES module apps; /sdk loads it', () => {
    // Compiled afresh into a folder of its own (not dist/, which other builds may be rewriting), without type checks.
    const root = resolve('.');
    const out = join(root, '.tmp', `sdk-lazy-${process.pid}`);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      for (const format of ['cjs', 'esm'] as const) {
        execFileSync(
          process.execPath,
          [tsc, '-p', `tsconfig.build.${format}.json`, '--outDir', join(out, format), '--noCheck', '--declaration', 'false', '--sourceMap', 'false', '--inlineSources', 'false'],
          { cwd: root, stdio: 'pipe' },
        );
        mkdirSync(join(out, format), { recursive: true });
        writeFileSync(join(out, format, 'package.json'), JSON.stringify({ type: format === 'cjs' ? 'commonjs' : 'module' }));
      }
      const sdkLoaded = `Object.keys(require('node:module').createRequire(${JSON.stringify(join(out, 'x.js'))}).cache).some((file) => file.includes('purecloud-platform-client-v2'))`;
      const check = (format: 'cjs' | 'esm', entries: string[]) => {
        const load =
          format === 'cjs'
            ? entries.map((entry) => `require(${JSON.stringify(join(out, 'cjs', entry, 'index.js'))});`).join('')
            : `await Promise.all(${JSON.stringify(entries.map((entry) => join(out, 'esm', entry, 'index.js')))}.map((file) => import(file)));`;
        const script = format === 'cjs' ? `${load} console.log(${sdkLoaded})` : `const require = (await import('node:module')).createRequire(import.meta.url); ${load} console.log(${sdkLoaded})`;
        const result = spawnSync(process.execPath, format === 'cjs' ? ['-e', script] : ['--input-type=module', '-e', script], {
          cwd: root,
          encoding: 'utf8',
          env: { ...process.env, NODE_OPTIONS: '' },
        });
        if (result.status !== 0) throw new Error(result.stderr);
        return result.stdout.trim();
      };
      for (const format of ['cjs', 'esm'] as const) {
        expect([format, check(format, ['.', 'health', 'testing'])]).toEqual([format, 'false']);
        expect([format, check(format, ['sdk'])]).toEqual([format, 'true']); // the check can see the SDK load
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('nestjs-genesys-auth/sdk in a process of its own', () => {
  const homes: string[] = [];
  afterAll(() => {
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  });

  /** A home folder for the SDK, with `~/.genesyscloudjavascript/config` holding `settings` when given. */
  function homeWith(settings?: string): string {
    const home = mkdtempSync(join(tmpdir(), 'genesys-sdk-home-'));
    homes.push(home);
    if (settings !== undefined) {
      mkdirSync(join(home, '.genesyscloudjavascript'));
      writeFileSync(join(home, '.genesyscloudjavascript', 'config'), settings);
    }
    return home;
  }

  it("leaves no watch of the SDK's config file from its SDK clients, wherever HOME points when they are created; reads the file once; the SDK's own ApiClient.instance keeps its watch", () => {
    const script = compileForNode('test/fixtures/sdk-config-watch/main.ts');
    const clientsHome = homeWith('[logging]\nlog_level = error\n');
    const result = spawnSync(process.execPath, [script], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '', HOME: homeWith(), USERPROFILE: undefined, CLIENTS_HOME: clientsHome },
      timeout: 30_000,
    });

    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual({ watchersOfClientsHomeFile: 0, watchersOfSdkLoadHomeFile: 1, clientLogLevel: 'error' });
  }, 60_000);
});

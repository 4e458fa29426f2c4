import { createHash } from 'node:crypto';
import { Test } from '@nestjs/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { isAxiosError } from 'axios';
import {
  GenesysAuthError,
  GenesysAuthModule,
  GenesysClientRegistry,
  GenesysHttpService,
  GenesysTokenService,
  getGenesysHttpServiceToken,
  getGenesysTokenServiceToken,
  MemoryTokenStore,
  type GenesysAuthErrorCode,
  type GenesysAuthModuleOptions,
  type GenesysClient,
  type GenesysClientRegistryOptions,
} from 'nestjs-genesys-auth';
import { RedisTokenStore } from 'nestjs-genesys-auth/redis';
import { GenesysCloudEmulator, type EmulatedClient, type EmulatorExchange } from 'nestjs-genesys-auth/testing';
import { TamperableStore, type Tampering } from './tamperable-store.js';
import {
  BUDGET,
  CALL_BOUND_MS,
  CLOSE_SETTLE_MS,
  LATENCY_MS,
  LIBRARY_OPTIONS,
  REGISTRY_BOUND_MS,
  REMOVE_BOUND_MS,
  RESOLVE_BOUND_MS,
  RESOLVE_TIMEOUT_MS,
  SLOW_RESOLVE_MS,
  TOKEN_LIFETIME_SECONDS,
} from './timings.js';

export const CLIENTS: readonly EmulatedClient[] = [
  { clientId: 'client-a', clientSecret: 'secret-a-0123456789', orgName: 'Org A' },
  { clientId: 'client-b', clientSecret: 'secret-b-0123456789', orgName: 'Org B' },
  { clientId: 'client-c', clientSecret: 'secret-c-0123456789', orgName: 'Org C' },
];
export type ClientId = 'client-a' | 'client-b' | 'client-c';
/** A registration's credentials: one of the emulator's clients, or client A's id with a wrong secret. */
export type Credentials = ClientId | 'client-a-wrong-secret';
/** Registry keys created with options by the model. */
export type TenantKey = 'tenant-1' | 'tenant-2';
/** Registry keys created through `resolveOptions`, whose resolver answers at once, slowly, or never. */
export type ResolvedKey = 'resolved-ok' | 'resolved-slow' | 'resolved-hang';
/** Whom a call goes through: the unnamed registration (client A), `beta` (client B), `impostor` (client A's id, wrong secret), or a registry key. */
export type Target = 'root' | 'beta' | 'impostor' | TenantKey;
export type ApiPath = '/api/v2/organizations/me' | '/api/v2/users/me' | '/api/v2/routing/queues' | '/api/v2/tokens/me';

/** What a run starts with. */
export interface RunSetup {
  readonly poolSize: 1 | 2;
  /** Which token store the unnamed registration, the impostor and store-using tenants share. */
  readonly store: 'none' | 'memory' | 'redis';
  /** Token requests that fail (503) before the app starts, so that `fetchTokenOnStartup` meets an outage. */
  readonly startUpFailures: number;
}

/** How an operation ended: an HTTP status, a `GenesysAuthError`, or anything else (described). */
export type Outcome =
  | { readonly status: number }
  | { readonly code: GenesysAuthErrorCode; readonly message: string }
  | { readonly unexpected: string };

/** One thing a caller did and waited for: an API call, a registry look-up through the resolver, a removal. */
export interface Operation {
  readonly id: string;
  /** `call`: an API call; `resolve`: `registry.get(key)` through `resolveOptions`; `registry`: another registry operation. */
  readonly kind: 'call' | 'resolve' | 'registry';
  /** For messages, e.g. `root GET /api/v2/users/me`. */
  readonly what: string;
  /** The registration it went through: `root`, `beta`, `impostor` or a registry key. */
  readonly via: string;
  /** The client the registration claims to be (the impostor claims client A). */
  readonly clientId: ClientId;
  readonly wrongSecret: boolean;
  readonly startedAt: number;
  /** Longest it may take (invariant 3). */
  readonly bound: number;
  /** The registry client it went through, to tell a retired client's `shutdown` from a wrong one. */
  client?: GenesysClient;
  settledAt?: number;
  outcome?: Outcome;
  judged: boolean;
}

/** An exchange the emulator reported, with what the model needs to attribute it. */
export interface LoggedExchange extends EmulatorExchange {
  /** The operation whose request it was (from the `x-model-call` header); none for the library's own requests. */
  readonly operationId?: string;
  /** API requests: a short hash of the bearer token (the token itself stays out of messages). */
  readonly tokenHash?: string;
  /** Token requests: whether the secret was the named client's. */
  readonly rightSecret: boolean;
  /** The client the request counts for: the caller's registration's, else the token's (API) or the named one (token endpoint). */
  readonly countsFor?: string;
  /** The client unit that sent it (a registration, or one registry client of a key), when it was an operation's request. */
  readonly unit?: string;
}

const TENANT_DEFAULTS: Record<TenantKey, { credentials: Credentials; store: boolean }> = {
  'tenant-1': { credentials: 'client-c', store: false },
  'tenant-2': { credentials: 'client-a', store: true },
};
const RESOLVED: Record<ResolvedKey, { credentials: ClientId; delayMs?: number }> = {
  'resolved-ok': { credentials: 'client-c' },
  'resolved-slow': { credentials: 'client-b', delayMs: SLOW_RESOLVE_MS },
  'resolved-hang': { credentials: 'client-b', delayMs: Number.POSITIVE_INFINITY },
};
const OPERATION_HEADER = 'x-model-call';
const WRONG_SECRET = 'not-the-secret-of-client-a';
let runs = 0;

/**
 * The real system of one run: an emulator, and a Nest app with the unnamed registration (client A,
 * pool and store as the run says), `beta` (client B), `impostor` (client A's id with a wrong secret,
 * sharing the store) and a registry. Records every operation and every exchange the emulator saw.
 */
export class World {
  readonly operations: Operation[] = [];
  readonly exchanges: LoggedExchange[] = [];
  /** Registry clients retired (replaced or removed), and when. */
  readonly retiredAt = new Map<GenesysClient, number>();
  /** Token slots ever held per client with the right secret: the storm bound of invariant 4 scales with them. */
  readonly slotsEver = new Map<string, number>();
  /** When the run started, for times in messages. */
  readonly startedAt = Date.now();
  closedAt?: number;
  private readonly pending = new Set<Promise<void>>();
  private readonly tenants = { ...TENANT_DEFAULTS };
  private readonly seenClients = new WeakSet<GenesysClient>();
  private readonly unitNumbers = new WeakMap<GenesysClient, number>();
  private units = 0;
  private readonly stopLogging: () => void;
  private operationCount = 0;

  private constructor(
    readonly setup: RunSetup,
    readonly emulator: GenesysCloudEmulator,
    readonly app: INestApplicationContext,
    readonly store: TamperableStore | undefined,
  ) {
    this.stopLogging = emulator.onExchange((exchange) => this.exchanges.push(this.logged(exchange)));
    this.countSlots('client-a', setup.poolSize);
    this.countSlots('client-b', 1);
  }

  /** Starts the emulator and the app (after the start-up outage the setup asks for). */
  static async start(setup: RunSetup, redisUrl: string): Promise<World> {
    const emulator = await GenesysCloudEmulator.start({ clients: CLIENTS, tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, apiRateLimit: BUDGET, latencyMs: LATENCY_MS });
    const exchanges: EmulatorExchange[] = [];
    const stopEarlyLog = emulator.onExchange((exchange) => exchanges.push(exchange));
    const run = ++runs;
    const store =
      setup.store === 'none'
        ? undefined
        : new TamperableStore(setup.store === 'memory' ? new MemoryTokenStore() : new RedisTokenStore({ url: redisUrl, keyPrefix: `invariants:${process.pid}:${run}:` }));
    if (setup.startUpFailures > 0) emulator.inject('token', { status: 503, body: 'login is down' }, setup.startUpFailures);
    const endpoints = { loginBaseUrl: emulator.url, apiBaseUrl: emulator.url };
    const registryOptions: GenesysClientRegistryOptions = {
      maxClients: 8,
      idleTimeoutMs: 0,
      defaults: { ...LIBRARY_OPTIONS, ...endpoints, fetchTokenOnStartup: false },
      resolveOptions: (key) => resolveTenant(emulator, key),
      resolveTimeoutMs: RESOLVE_TIMEOUT_MS,
    };
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [
          GenesysAuthModule.forRoot({
            ...emulator.moduleOptions('client-a'),
            ...LIBRARY_OPTIONS,
            fetchTokenOnStartup: true,
            tokenPool: { size: setup.poolSize },
            ...(store ? { tokenStore: store } : {}),
          }),
          GenesysAuthModule.forRoot({ name: 'beta', ...emulator.moduleOptions('client-b'), ...LIBRARY_OPTIONS, fetchTokenOnStartup: true }),
          GenesysAuthModule.forRoot({
            name: 'impostor',
            ...emulator.moduleOptions('client-a'),
            clientSecret: WRONG_SECRET,
            ...LIBRARY_OPTIONS,
            fetchTokenOnStartup: false,
            ...(store ? { tokenStore: store } : {}),
          }),
          GenesysAuthModule.forRegistry(registryOptions),
        ],
      }).compile();
      moduleRef.useLogger(false);
      const app = await moduleRef.init();
      const world = new World(setup, emulator, app, store);
      world.exchanges.unshift(...exchanges.map((exchange) => world.logged(exchange)));
      return world;
    } catch (error) {
      await emulator.close();
      throw error;
    } finally {
      stopEarlyLog();
    }
  }

  /** Pending operations, oldest first. */
  get pendingOperations(): Operation[] {
    return this.operations.filter((operation) => operation.outcome === undefined);
  }

  /** The registry. */
  get registry(): GenesysClientRegistry {
    return this.app.get(GenesysClientRegistry);
  }

  /** Starts a call through `target` (not awaited: steps go on while it waits). */
  call(target: Target, path: ApiPath, method: 'GET' | 'DELETE' = 'GET'): void {
    const { clientId, wrongSecret } = this.identityOf(target);
    const operation = this.operation('call', target, `${method} ${path}`, clientId, wrongSecret, CALL_BOUND_MS);
    void this.track(operation, async () => {
      const http = await this.httpOf(target, operation);
      const response = await http.axiosRef.request({
        method,
        url: path,
        headers: { 'x-emulator-expect-client': clientId, [OPERATION_HEADER]: operation.id },
      });
      return { status: response.status };
    });
  }

  /** Gives a tenant other credentials or store (the registry replaces its client), awaited: it is quick. */
  async putTenant(key: TenantKey, credentials: Credentials, store: boolean): Promise<void> {
    this.tenants[key] = { credentials, store: store && this.store !== undefined };
    const { clientId, wrongSecret } = this.identityOf(key);
    const operation = this.operation('registry', key, `registry.get(${key}, ${credentials}${store ? ', store' : ''})`, clientId, wrongSecret, REGISTRY_BOUND_MS);
    await within(
      REGISTRY_BOUND_MS,
      this.track(operation, async () => {
        await this.httpOf(key, operation);
        return { status: 200 };
      }),
    );
  }

  /** Removes a tenant; its client finishes its requests first, so this goes on in the background. */
  removeTenant(key: TenantKey): void {
    const held = this.registry.peek(key);
    if (held) this.retiredAt.set(held, Date.now());
    const { clientId, wrongSecret } = this.identityOf(key);
    const operation = this.operation('registry', key, `registry.remove(${key})`, clientId, wrongSecret, REMOVE_BOUND_MS);
    void this.track(operation, async () => ({ status: (await this.registry.remove(key)) ? 200 : 404 }));
  }

  /** Gets a client through `resolveOptions`, then calls `organizations/me` with it. */
  resolve(key: ResolvedKey): void {
    const clientId = RESOLVED[key].credentials;
    const operation = this.operation('resolve', key, `registry.get(${key})`, clientId, false, RESOLVE_BOUND_MS);
    void this.track(operation, async () => {
      const client = await this.registry.get(key);
      this.noteClient(client, clientId);
      const path = '/api/v2/organizations/me';
      const call = this.operation('call', key, `GET ${path}`, clientId, false, CALL_BOUND_MS);
      call.client = client;
      void this.track(call, async () => {
        const response = await client.http.axiosRef.get(path, { headers: { 'x-emulator-expect-client': clientId, [OPERATION_HEADER]: call.id } });
        return { status: response.status };
      });
      return { status: 200 };
    });
  }

  /** Corrupts the shared store's token values (a no-op without a store). */
  tamper(tampering: Tampering): void {
    this.store?.tamper(tampering);
  }

  /** Token services of the registrations still open, by name, for their state. */
  tokenServices(): [string, GenesysTokenService][] {
    if (this.closedAt !== undefined) return [];
    const services: [string, GenesysTokenService][] = [
      ['root', this.app.get(GenesysTokenService)],
      ['beta', this.app.get<GenesysTokenService>(getGenesysTokenServiceToken('beta'))],
    ];
    for (const key of this.registry.keys()) services.push([key, this.registry.peek(key)!.tokens]);
    return services;
  }

  /** Resolves once every pending operation settled, or after `ms`, whichever comes first. */
  settle(ms: number): Promise<void> {
    return within(ms, Promise.allSettled([...this.pending]));
  }

  /** Closes the app and gives pending operations {@link CLOSE_SETTLE_MS} to settle; returns those that did not. */
  async close(): Promise<Operation[]> {
    if (this.closedAt !== undefined) return [];
    this.closedAt = Date.now();
    await this.app.close();
    await this.settle(CLOSE_SETTLE_MS);
    return this.pendingOperations;
  }

  /** Closes whatever is still open, without judging anything (after a failure too). */
  async dispose(): Promise<void> {
    this.stopLogging();
    if (this.closedAt === undefined) {
      this.closedAt = Date.now();
      await this.app.close().catch(() => undefined);
    }
    await this.emulator.close();
  }

  private operation(kind: Operation['kind'], via: string, action: string, clientId: ClientId, wrongSecret: boolean, bound: number): Operation {
    const what = action.startsWith('registry.') ? action : `${via} ${action}`;
    const operation: Operation = { id: `op-${++this.operationCount}`, kind, via, what, clientId, wrongSecret, startedAt: Date.now(), bound, judged: false };
    this.operations.push(operation);
    return operation;
  }

  private track(operation: Operation, run: () => Promise<Outcome>): Promise<void> {
    const settled = run().then(
      (outcome) => this.settled(operation, outcome),
      (error: unknown) => this.settled(operation, outcomeOf(error)),
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return settled;
  }

  private settled(operation: Operation, outcome: Outcome): void {
    operation.settledAt = Date.now();
    operation.outcome = outcome;
  }

  private identityOf(target: Target): { clientId: ClientId; wrongSecret: boolean } {
    if (target === 'root') return { clientId: 'client-a', wrongSecret: false };
    if (target === 'beta') return { clientId: 'client-b', wrongSecret: false };
    if (target === 'impostor') return { clientId: 'client-a', wrongSecret: true };
    const { credentials } = this.tenants[target];
    return credentials === 'client-a-wrong-secret' ? { clientId: 'client-a', wrongSecret: true } : { clientId: credentials, wrongSecret: false };
  }

  private async httpOf(target: Target, operation: Operation): Promise<GenesysHttpService> {
    if (target === 'root') return this.app.get(GenesysHttpService);
    if (target === 'beta' || target === 'impostor') return this.app.get<GenesysHttpService>(getGenesysHttpServiceToken(target));
    const before = this.registry.peek(target);
    const client = await this.registry.get(target, this.tenantOptions(target));
    if (before && before !== client && !this.retiredAt.has(before)) this.retiredAt.set(before, Date.now());
    operation.client = client;
    if (!operation.wrongSecret) this.noteClient(client, operation.clientId);
    return client.http;
  }

  private tenantOptions(key: TenantKey): Partial<GenesysAuthModuleOptions> {
    const { credentials, store } = this.tenants[key];
    const wrongSecret = credentials === 'client-a-wrong-secret';
    const options = this.emulator.moduleOptions(wrongSecret ? 'client-a' : credentials);
    return { ...options, ...(wrongSecret ? { clientSecret: WRONG_SECRET } : {}), ...(store && this.store ? { tokenStore: this.store } : {}) };
  }

  /** A registration's name; for the registry, its key and which of the key's clients (a replaced one is another unit). */
  private unitOf(operation: Operation): string {
    const { client } = operation;
    if (!client) return operation.via;
    if (!this.unitNumbers.has(client)) this.unitNumbers.set(client, ++this.units);
    return `${operation.via}#${this.unitNumbers.get(client)}`;
  }

  private noteClient(client: GenesysClient, clientId: string): void {
    if (this.seenClients.has(client)) return;
    this.seenClients.add(client);
    this.countSlots(clientId, 1);
  }

  private countSlots(clientId: string, slots: number): void {
    this.slotsEver.set(clientId, (this.slotsEver.get(clientId) ?? 0) + slots);
  }

  private logged(exchange: EmulatorExchange): LoggedExchange {
    const header = exchange.request.headers[OPERATION_HEADER];
    const operationId = typeof header === 'string' ? header : undefined;
    const operation = operationId === undefined ? undefined : this.operations.find((candidate) => candidate.id === operationId);
    const authorization = exchange.request.headers.authorization ?? '';
    const bearer = /^Bearer (.+)$/i.exec(authorization)?.[1];
    return {
      ...exchange,
      operationId,
      tokenHash: bearer === undefined ? undefined : createHash('sha256').update(bearer).digest('hex').slice(0, 8),
      rightSecret: exchange.route === 'token' && exchange.clientId !== undefined && basicSecretOf(authorization) === secretOf(exchange.clientId),
      countsFor: operation?.clientId ?? exchange.clientId,
      unit: operation && this.unitOf(operation),
    };
  }
}

/** Resolves when `pending` settles or after `ms`, whichever comes first. */
async function within(ms: number, pending: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([pending, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The options `resolveOptions` finds for a key: at once, after a delay, or never. */
function resolveTenant(emulator: GenesysCloudEmulator, key: string): Promise<Partial<GenesysAuthModuleOptions>> {
  const resolved = RESOLVED[key as ResolvedKey];
  if (!resolved) return Promise.reject(new Error(`no tenant ${key}`));
  const options = emulator.moduleOptions(resolved.credentials);
  if (resolved.delayMs === undefined) return Promise.resolve(options);
  if (!Number.isFinite(resolved.delayMs)) return new Promise(() => undefined); // a database that never answers
  return new Promise((resolve) => setTimeout(() => resolve(options), resolved.delayMs));
}

function secretOf(clientId: string): string | undefined {
  return CLIENTS.find((client) => client.clientId === clientId)?.clientSecret;
}

function basicSecretOf(authorization: string): string | undefined {
  const basic = /^Basic (.+)$/i.exec(authorization)?.[1];
  if (basic === undefined) return undefined;
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1);
}

/** What a caller saw: the API's status, the library's error code, or a description of anything else. */
function outcomeOf(error: unknown): Outcome {
  if (error instanceof GenesysAuthError) return { code: error.code, message: error.message.slice(0, 300) };
  if (isAxiosError(error) && error.response) return { status: error.response.status };
  const description = error instanceof Error ? `${error.name}${isAxiosError(error) ? ` ${error.code ?? ''}` : ''}: ${error.message}` : String(error);
  return { unexpected: description.slice(0, 300) };
}


import { createHash } from 'node:crypto';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { GenesysAuthError, type GenesysAuthErrorCode } from '../errors.js';
import { resolveGenesysAuthOptions, type ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { GenesysAuthModuleOptions } from '../interfaces/genesys-auth-options.interface.js';
import { loadClientTelemetry, REGISTRY_TELEMETRY_CLIENT, type ClientTelemetryFactory } from '../telemetry.js';
import { GenesysClient, type GenesysClientContext } from './genesys-client.js';

/** Options of `GenesysAuthModule.forRegistry()` / `forRegistryAsync()`. */
export interface GenesysClientRegistryOptions {
  /** Most clients held at once; getting one more closes the least recently used. Default `100`. */
  readonly maxClients?: number;
  /** A client unused this long is closed: timers stopped, sockets closed, token dropped. Default `900000` (15 min); `0` never. */
  readonly idleTimeoutMs?: number;
  /** Options every client starts from; the options given to `get` (or resolved for its key) override them. */
  readonly defaults?: Partial<GenesysAuthModuleOptions>;
  /**
   * Finds the options (at least `clientId` and `clientSecret`) of a key that `get` is called with
   * without options, e.g. from your tenant database. Called only when no client is held for the key,
   * so secrets need not stay in memory while a tenant is idle.
   *
   * When the token endpoint refuses a resolved client's credentials (`invalid_client`,
   * `unauthorized_client`), the next `get` of its key asks again, once per refusal and at most once per
   * `retry.maxDelayMs`: a rotated secret takes effect without a restart; the same options keep the client held.
   *
   * It has `resolveTimeoutMs` to answer. When it throws, rejects or takes longer, `get` fails with a
   * `GenesysAuthError` `unavailable` naming the key, with the resolver's error as `cause`: retryable, as
   * the source of the options may answer later (not `timeout`, which tells of the token endpoint). An
   * answer that is not an object fails with `invalid_options`.
   * Either way nothing is kept: the next `get` of the key asks again. On shutdown, pending `get`s fail with `shutdown`.
   */
  readonly resolveOptions?: (key: string) => Partial<GenesysAuthModuleOptions> | Promise<Partial<GenesysAuthModuleOptions>>;
  /** How long `resolveOptions` may take for one key before `get` fails. Default `10000`; 1 to 600000. */
  readonly resolveTimeoutMs?: number;
  /**
   * The `genesys.client` attribute of a key's metrics and spans. Registry clients report `registry` by
   * default, whatever their key: one series per key would grow without bound with the tenants. Map keys
   * to a small, fixed set of labels (a tier, or the key itself for a few known keys) to tell them
   * apart; `undefined` keeps `registry`. Never return a secret: the label is exported as is.
   */
  readonly telemetryClientName?: (key: string) => string | undefined;
}

interface Entry {
  readonly client: GenesysClient;
  /** Hash of the resolved options, secret included: a different one means new credentials. */
  readonly fingerprint: string;
  lastUsedAt: number;
  /** The token endpoint refused its credentials since its options were last resolved: the next `get` resolves them again. */
  credentialsRefused: boolean;
  /**
   * When refused credentials last made the key's options be resolved again (epoch ms): at most once per
   * `retry.maxDelayMs`, as a client retries refused credentials, so that a resolver answering other
   * credentials each time cannot turn every `get` into a new client and a token request.
   */
  readonly reResolvedAt: number;
  readonly reResolveEveryMs: number;
}

/** A `get` waiting for `resolveOptions`, and how `remove` tells it that the key was removed meanwhile. */
interface Creation {
  readonly client: Promise<GenesysClient>;
  readonly removal: AbortController;
}

/** Refusals that new options may cure (a rotated secret, a grant fixed); others are not the resolver's to fix. */
const CREDENTIAL_REFUSALS: ReadonlySet<GenesysAuthErrorCode> = new Set(['invalid_client', 'unauthorized_client']);

/** 1 to 200 characters, none a blank or a control character (keys appear in log contexts and health keys). */
const KEY_SHAPE = /^[^\s\p{Cc}]{1,200}$/u;

/**
 * Genesys clients created at run time, one per key (a tenant, an org): each is a complete client
 * unit (token service, interceptor, HTTP client) of its own, created on first use, reused after,
 * closed when idle, when evicted as least recently used, when replaced, removed, or on shutdown.
 *
 * @example
 * const client = await this.registry.get(tenant.id, { clientId: tenant.clientId, clientSecret: tenant.secret, region: tenant.region });
 * const { data } = await client.http.axiosRef.get<Org>('/api/v2/organizations/me');
 */
export class GenesysClientRegistry implements OnApplicationShutdown {
  private readonly logger = new Logger('GenesysAuth:registry');
  /** Clients by key, least recently used first (a Map keeps insertion order; a use moves the entry to the end). */
  private readonly entries = new Map<string, Entry>();
  private readonly creating = new Map<string, Creation>();
  /** Fails each `resolveOptions` call still awaited: shutdown must not leave a `get` pending. */
  private readonly pendingResolutions = new Set<(error: GenesysAuthError) => void>();
  /** Evicted or replaced clients still finishing their requests. */
  private readonly closing = new Set<GenesysClient>();
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;
  private lastThrashWarningAt = Number.NEGATIVE_INFINITY;
  private readonly maxClients: number;
  private readonly idleTimeoutMs: number;
  private readonly resolveTimeoutMs: number;

  /** @internal Created by `GenesysAuthModule.forRegistry()`. */
  constructor(
    private readonly options: GenesysClientRegistryOptions,
    private readonly context: GenesysClientContext,
  ) {
    this.maxClients = integerOption(options.maxClients, 'maxClients', 100, 1, 1_000_000);
    this.idleTimeoutMs = integerOption(options.idleTimeoutMs, 'idleTimeoutMs', 900_000, 0, 2 ** 31 - 1);
    this.resolveTimeoutMs = integerOption(options.resolveTimeoutMs, 'resolveTimeoutMs', 10_000, 1, 600_000);
    for (const field of ['resolveOptions', 'telemetryClientName'] as const) {
      if (options[field] !== undefined && typeof options[field] !== 'function') {
        throw new GenesysAuthError('invalid_options', `GenesysClientRegistry: option "${field}" must be a function`);
      }
    }
  }

  /** Number of clients held. */
  get size(): number {
    return this.entries.size;
  }

  /** Keys of the clients held, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** The client held for `key`, without creating one or counting as a use. */
  peek(key: string): GenesysClient | undefined {
    return this.entries.get(key)?.client;
  }

  /**
   * The client for `key`, created on first use. With `options`, a client held for `key` with other
   * credentials or settings is replaced (the old one closes once its requests have finished). Without
   * them, the client held is returned, or one is created from `resolveOptions(key)`.
   * @throws GenesysAuthError `invalid_options` for a bad key or options, `unavailable` when `resolveOptions`
   * failed or took longer than `resolveTimeoutMs`, `shutdown` once the application closes.
   */
  async get(key: string, options?: Partial<GenesysAuthModuleOptions>): Promise<GenesysClient> {
    this.assertRunning();
    if (typeof key !== 'string' || !KEY_SHAPE.test(key)) {
      throw new GenesysAuthError('invalid_options', 'GenesysClientRegistry: a key is 1 to 200 characters without blanks or control characters');
    }
    const held = this.entries.get(key);
    if (options === undefined) {
      if (held && !this.dueForReResolution(held)) return this.touched(key, held).client;
      const pending = this.creating.get(key);
      if (pending) return pending.client;
      const removal = new AbortController();
      const client = this.createFromResolver(key, held, removal.signal).finally(() => {
        if (this.creating.get(key)?.removal === removal) this.creating.delete(key);
      });
      this.creating.set(key, { client, removal });
      return client;
    }
    const config = this.resolve(key, options);
    const fingerprint = fingerprintOf(config);
    if (held?.fingerprint === fingerprint) return this.touched(key, held).client;
    const telemetry = await loadClientTelemetry();
    const current = this.entries.get(key); // another get() may have added it while OpenTelemetry loaded
    if (current?.fingerprint === fingerprint) return this.touched(key, current).client;
    return this.add(key, config, fingerprint, telemetry);
  }

  /**
   * Forgets the client for `key` and closes it once its requests have finished; a `get` still waiting
   * for `resolveOptions(key)` fails with `shutdown`. Resolves `false` when no client was held or being created.
   */
  async remove(key: string): Promise<boolean> {
    const creation = this.creating.get(key);
    if (creation) {
      this.creating.delete(key);
      creation.removal.abort();
    }
    const entry = this.entries.get(key);
    if (!entry) return creation !== undefined;
    this.entries.delete(key);
    await this.retire(entry.client, 'removed from the registry');
    return true;
  }

  /** Closes every client at once, including those still finishing requests, and fails the `get`s still waiting for `resolveOptions`. */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) this.context.clock.clearTimeout(this.sweepTimer);
    for (const fail of [...this.pendingResolutions]) fail(shuttingDown());
    const clients = [...[...this.entries.values()].map((entry) => entry.client), ...this.closing];
    this.entries.clear();
    this.closing.clear();
    await Promise.all(clients.map((client) => client.close()));
  }

  /** A client from `resolveOptions(key)`, replacing `refused` (a client whose credentials were refused) when the options changed. */
  private async createFromResolver(key: string, refused: Entry | undefined, removed: AbortSignal): Promise<GenesysClient> {
    if (!this.options.resolveOptions) {
      throw new GenesysAuthError('invalid_options', `GenesysClientRegistry: no client is held for this key and no options were given (pass options to get(), or set resolveOptions)`);
    }
    const resolved = await this.resolveOptionsOf(key, this.options.resolveOptions);
    const telemetry = await loadClientTelemetry();
    if (removed.aborted) throw new GenesysAuthError('shutdown', `GenesysClientRegistry: the key "${key}" was removed from the registry while its options were resolved; get it from the registry again`);
    const config = this.resolve(key, resolved);
    const fingerprint = fingerprintOf(config);
    const held = this.entries.get(key);
    if (held && held === refused && held.fingerprint === fingerprint) {
      held.credentialsRefused = false; // the same credentials: its token service tries them again in its own time
      return this.touched(key, held).client;
    }
    if (held && held !== refused) return this.touched(key, held).client; // another get() with options added one meanwhile
    return this.add(key, config, fingerprint, telemetry, refused ? this.context.clock.now() : Number.NEGATIVE_INFINITY);
  }

  /** What `resolveOptions` answers for `key`, within `resolveTimeoutMs` and before shutdown; a late answer is dropped. */
  private resolveOptionsOf(
    key: string,
    resolveOptions: NonNullable<GenesysClientRegistryOptions['resolveOptions']>,
  ): Promise<Partial<GenesysAuthModuleOptions>> {
    return new Promise((resolve, reject) => {
      const release = () => {
        this.context.clock.clearTimeout(timer);
        this.pendingResolutions.delete(fail);
      };
      const fail = (error: GenesysAuthError) => {
        release();
        reject(error);
      };
      const timer = this.context.clock.setTimeout(
        () => fail(new GenesysAuthError('unavailable', `GenesysClientRegistry: resolveOptions did not answer within ${this.resolveTimeoutMs} ms (registry key "${key}")`)),
        this.resolveTimeoutMs,
      );
      this.pendingResolutions.add(fail);
      Promise.resolve()
        .then(() => resolveOptions(key))
        .then(
          (options) => {
            if (typeof options !== 'object' || options === null) {
              fail(new GenesysAuthError('invalid_options', `GenesysClientRegistry: resolveOptions answered with no options object (registry key "${key}")`));
              return;
            }
            release();
            resolve(options);
          },
          // Its message may say anything (a database's error): it rides along as the cause, never in ours.
          (error: unknown) => fail(new GenesysAuthError('unavailable', `GenesysClientRegistry: resolveOptions failed (registry key "${key}")`, {}, { cause: error })),
        );
    });
  }

  private resolve(key: string, options: Partial<GenesysAuthModuleOptions>): ResolvedGenesysAuthConfig {
    try {
      return resolveGenesysAuthOptions({ ...this.options.defaults, ...options } as GenesysAuthModuleOptions);
    } catch (error) {
      if (error instanceof GenesysAuthError) throw new GenesysAuthError(error.code, `${error.message} (registry key "${key}")`);
      // A getter or proxy of the caller's threw while the options were read: its message may say anything, so it rides along as the cause.
      throw new GenesysAuthError('invalid_options', `GenesysClientRegistry: the options could not be read (registry key "${key}")`, {}, { cause: error });
    }
  }

  /** The `genesys.client` label of `key`'s telemetry: `registry`, or what `telemetryClientName` maps the key to. */
  private telemetryClientNameOf(key: string): string {
    let name: unknown;
    try {
      name = this.options.telemetryClientName?.(key);
    } catch (error) {
      throw new GenesysAuthError('invalid_options', `GenesysClientRegistry: telemetryClientName failed (registry key "${key}")`, {}, { cause: error });
    }
    if (name === undefined) return REGISTRY_TELEMETRY_CLIENT;
    if (typeof name !== 'string' || !KEY_SHAPE.test(name)) {
      throw new GenesysAuthError('invalid_options', `GenesysClientRegistry: telemetryClientName must answer undefined or 1 to 200 characters without blanks or control characters (registry key "${key}")`);
    }
    return name;
  }

  private add(key: string, config: ResolvedGenesysAuthConfig, fingerprint: string, telemetry: ClientTelemetryFactory, reResolvedAt = Number.NEGATIVE_INFINITY): GenesysClient {
    this.assertRunning(); // the app may have closed while the options or OpenTelemetry loaded
    const telemetryClientName = this.telemetryClientNameOf(key);
    const replaced = this.entries.get(key);
    if (replaced) {
      this.entries.delete(key);
      void this.retire(replaced.client, 'replaced in the registry by a client with other options');
    }
    const client = new GenesysClient(key, config, { ...this.context, telemetry, telemetryClientName });
    const entry: Entry = { client, fingerprint, lastUsedAt: this.context.clock.now(), credentialsRefused: false, reResolvedAt, reResolveEveryMs: config.retry.maxDelayMs };
    if (this.options.resolveOptions) {
      // Ends with the client: its token service completes its events as it closes.
      client.tokens.events$.subscribe((event) => {
        if (event.type === 'refresh_failed' && CREDENTIAL_REFUSALS.has(event.error.code)) entry.credentialsRefused = true;
      });
    }
    this.entries.set(key, entry);
    while (this.entries.size > this.maxClients) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldestKey);
      this.onEvicted(oldestKey, oldest);
      void this.retire(oldest.client, `evicted from the registry as least recently used (more than ${this.maxClients} clients)`);
    }
    this.scheduleSweep();
    return client;
  }

  /** Whether `entry`'s credentials were refused and its options may be resolved again now. */
  private dueForReResolution(entry: Entry): boolean {
    return entry.credentialsRefused && this.context.clock.now() >= entry.reResolvedAt + entry.reResolveEveryMs;
  }

  private touched(key: string, entry: Entry): Entry {
    entry.lastUsedAt = this.context.clock.now();
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Closes a client that is no longer handed out, after the requests it is serving. */
  private async retire(client: GenesysClient, because: string): Promise<void> {
    this.closing.add(client);
    await client.closeWhenIdle(`the Genesys client "${client.name}" was ${because}; get it from the registry again`);
    this.closing.delete(client);
  }

  /**
   * Evicting a client that was in use recently means maxClients is below the working set: every
   * eviction costs a token request later. Said once a minute at most, at warn level.
   */
  private onEvicted(key: string, entry: Entry): void {
    const now = this.context.clock.now();
    const usedAgoMs = now - Math.max(entry.lastUsedAt, entry.client.interceptor.requests.lastActiveAt);
    if (usedAgoMs < 60_000 && now - this.lastThrashWarningAt >= 60_000) {
      this.lastThrashWarningAt = now;
      this.logger.warn(
        `Evicted the Genesys client "${key}", used ${usedAgoMs} ms ago: more tenants are active than maxClients (${this.maxClients}); each eviction costs a token request when the tenant comes back`,
      );
    } else {
      this.logger.debug(`Evicted the least recently used Genesys client "${key}" (more than ${this.maxClients} held)`);
    }
  }

  private scheduleSweep(): void {
    if (this.idleTimeoutMs === 0 || this.sweepTimer || this.stopped) return;
    const every = Math.min(Math.max(this.idleTimeoutMs / 2, 10), 60_000);
    this.sweepTimer = this.context.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      this.closeIdleClients();
      if (this.entries.size > 0) this.scheduleSweep();
    }, every);
  }

  private closeIdleClients(): void {
    const idleSince = this.context.clock.now() - this.idleTimeoutMs;
    for (const [key, entry] of this.entries) {
      // A client kept by a caller and used without get() counts as used by its requests.
      if (Math.max(entry.lastUsedAt, entry.client.interceptor.requests.lastActiveAt) > idleSince) continue;
      this.entries.delete(key);
      this.logger.debug(`Closing the Genesys client "${key}": unused for ${this.idleTimeoutMs} ms`);
      void this.retire(entry.client, `closed by the registry after ${this.idleTimeoutMs} ms unused`);
    }
  }

  private assertRunning(): void {
    if (this.stopped) throw shuttingDown();
  }
}

const shuttingDown = () => new GenesysAuthError('shutdown', 'GenesysClientRegistry: the application is shutting down');

const storeIds = new WeakMap<object, number>();
let storesSeen = 0;

/** The hash of a configuration; a token store counts by identity (it holds connections, not data). */
function fingerprintOf(config: ResolvedGenesysAuthConfig): string {
  const json = JSON.stringify(config, (key, value: unknown) => {
    if (key !== 'tokenStore' || typeof value !== 'object' || value === null) return value;
    if (!storeIds.has(value)) storeIds.set(value, ++storesSeen);
    return `store#${storeIds.get(value)}`;
  });
  return createHash('sha256').update(json).digest('base64url');
}

function integerOption(value: unknown, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new GenesysAuthError('invalid_options', `GenesysClientRegistry: option "${field}" must be a whole number from ${min} to ${max}`);
  }
  return value;
}

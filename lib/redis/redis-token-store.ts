import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { RedisClientType } from 'redis';
import { settleWithin, systemClock } from '../clock.js';
import { GenesysAuthError, inspectAs } from '../errors.js';
import type { BudgetClaim, GenesysTokenStore, StoredToken } from '../store/genesys-token-store.js';

/** Options of {@link RedisTokenStore}: a `url` (the store connects and closes its own client) or a connected `client` the app owns. */
export type RedisTokenStoreOptions = {
  /**
   * Prepended to every key, e.g. `myapp:prod:`, so that apps or environments can share a Redis.
   * Default `genesys-auth:`.
   */
  readonly keyPrefix?: string;
  /**
   * Encrypts stored tokens with AES-256-GCM: a 32-byte key as a `Buffer`, or a string (hashed with
   * SHA-256 into one; use at least 32 random characters). Each value is bound to its Redis key, so a
   * value copied to another key does not decrypt. Every replica sharing the Redis needs the same key.
   * Without it, tokens are stored as they are: anyone who can read the Redis can use them until they expire.
   */
  readonly encryptionKey?: Buffer | string;
} & ({ readonly url: string; readonly client?: never } | { readonly client: RedisClientLike; readonly url?: never });

/**
 * What this store needs of a node-redis connection: a client (`createClient`), a Redis Cluster
 * (`createCluster`) or a Sentinel-managed primary (`createSentinel`), connected by the app. Every key a
 * script touches carries the same hash tag, so in a cluster each script runs on one slot.
 */
export interface RedisClientLike {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** Longest our own client may take to connect (TCP and handshake) or to close politely; then it is destroyed. */
const CONNECTION_DEADLINE_MS = 2_000;

/**
 * Lua, run first by each script: deletes a key holding a value of another type than the script keeps
 * there (left by another writer, stray or hostile). Redis would fail the script with WRONGTYPE, which
 * the library takes for an outage of the whole store; deleted, the key counts afresh, as if it had expired.
 */
const MISTYPED_KEYS_DELETED = `
local function expect(key, kind)
  local found = redis.call('TYPE', key).ok
  if found ~= kind and found ~= 'none' then redis.call('DEL', key) end
end
`;

/**
 * Claims one request of budget: nothing while cooling down; else at most `limit` claims counted in the
 * window (Redis' clock for all replicas). Also notes which replicas claim on the key (KEYS[3], one
 * entry per store, kept a minute or a window) and answers how many did: a replica that later cannot
 * reach Redis counts only its share of the budget.
 */
const CLAIM_SCRIPT = `${MISTYPED_KEYS_DELETED}
expect(KEYS[1], 'zset')
expect(KEYS[2], 'string')
expect(KEYS[3], 'zset')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local seen = math.max(window, 60000)
redis.call('ZADD', KEYS[3], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - seen)
redis.call('PEXPIRE', KEYS[3], seen)
local replicas = redis.call('ZCARD', KEYS[3])
local cooling = redis.call('PTTL', KEYS[2])
local maxCoolDown = tonumber(ARGV[5])
if cooling > maxCoolDown then
  redis.call('PEXPIRE', KEYS[2], maxCoolDown)
  cooling = maxCoolDown
end
if cooling > 0 then return {0, cooling, 1, replicas} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local counted = redis.call('ZCARD', KEYS[1])
if counted < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], lease + window)
  return {1, 0, 0, replicas, limit - counted - 1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.min(window + lease, math.max(1, tonumber(oldest[2]) + window - now)), 0, replicas}
`;

/** The claim's answer arrived: it counts from now (Redis' clock) for the window, or not at all when the API did not count it (ARGV[2] = '0'). */
const SETTLE_SCRIPT = `${MISTYPED_KEYS_DELETED}
expect(KEYS[1], 'zset')
if ARGV[2] == '0' then
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
end
return 1
`;

/** Extends a cool-down, never shortens it. */
const COOL_DOWN_SCRIPT = `${MISTYPED_KEYS_DELETED}
expect(KEYS[1], 'string')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
`;

/** Takes a lock no one holds, or renews it for its owner. */
const ACQUIRE_LOCK_SCRIPT = `${MISTYPED_KEYS_DELETED}
expect(KEYS[1], 'string')
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** Deletes the lock only if `owner` still holds it. */
const RELEASE_SCRIPT = `${MISTYPED_KEYS_DELETED}
expect(KEYS[1], 'string')
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Prefix of an encrypted value: AES-256-GCM bound to its Redis key (the `gcm1:` values of earlier versions were not). */
const ENCRYPTED_FORMAT = 'gcm2';

/** Any encrypted value, of this version or another. */
const ENCRYPTED_VALUE = /^gcm\d+:/;

/**
 * A {@link GenesysTokenStore} in Redis, on node-redis (the `redis` package, an optional peer): replicas
 * of an app share tokens (one refresh per cluster, under a `SET NX PX` lock its owner renews and releases by
 * compare-and-delete) and budgets (atomic Lua scripts on Redis' own clock), and a 429 cool-down seen by
 * one replica holds for all. The client secret is never stored; tokens are, encrypted with
 * `encryptionKey` when it is given.
 *
 * @example
 * GenesysAuthModule.forRoot({ clientId, clientSecret, tokenStore: new RedisTokenStore({ url: 'redis://127.0.0.1:6379', encryptionKey }) })
 */
export class RedisTokenStore implements GenesysTokenStore {
  /** Key prefix, ending in `:`. */
  readonly keyPrefix: string;
  /** The connection the app gave, if it gave one. */
  private readonly appClient?: RedisClientLike;
  private readonly url?: string;
  /** node-redis, loaded once a store is made from `url` (not when this module is imported): the first call then only connects. */
  private redisModule?: Promise<typeof import('redis')>;
  /** Our own client, when we created it from `url`: connected on first use, closed by {@link close}. */
  private ownClient?: RedisClientType;
  private connecting?: Promise<RedisClientLike>;
  /** Once closed, calls fail at once (the library then goes on alone) instead of reopening a connection nothing would close. */
  private closed = false;
  private readonly key?: Buffer;
  /** Names this store among the replicas claiming budget on a key (see {@link BudgetClaim.replicas}). */
  private readonly replicaId = randomUUID();
  private readonly logger = new Logger('GenesysAuth:store');
  /** A value this store could not read was reported: once per store, since every later read would say the same. */
  private reportedUnreadable = false;

  constructor(options: RedisTokenStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? 'genesys-auth:';
    // The store's own hash tag keeps a key and its companions on one cluster slot; braces in the prefix would replace it.
    if (typeof this.keyPrefix !== 'string' || /[{}]/.test(this.keyPrefix)) {
      throw new GenesysAuthError('invalid_options', 'RedisTokenStore: option "keyPrefix" must be a string without "{" or "}"');
    }
    inspectAs(this, () => ({ keyPrefix: this.keyPrefix, encrypted: this.key !== undefined }));
    if (options.encryptionKey !== undefined) this.key = encryptionKeyOf(options.encryptionKey);
    if (options.client) this.appClient = options.client;
    else if (typeof options.url === 'string' && /^rediss?:\/\//i.test(options.url)) {
      this.url = options.url;
      this.redisModule = import('redis');
      this.redisModule.catch(() => undefined); // a missing peer is reported by the first call, bounded like any store failure
    }
    else throw new GenesysAuthError('invalid_options', 'RedisTokenStore: give either a "url" (redis:// or rediss://) or a connected "client"');
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    const client = await this.connected();
    const fullKey = this.redisKey(key);
    const raw = await client.get(fullKey).catch((error: unknown) => {
      if (isWrongType(error)) return null; // a value of another type: no token here; setToken overwrites it
      throw error;
    });
    return raw === null ? undefined : this.decode(String(raw), fullKey);
  }

  async setToken(key: string, token: StoredToken): Promise<void> {
    const ttlMs = Math.floor(token.expiresAt - systemClock.now());
    if (ttlMs <= 0) return;
    const client = await this.connected();
    const fullKey = this.redisKey(key);
    await client.set(fullKey, this.encode(token, fullKey), { PX: ttlMs });
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const client = await this.connected();
    return Number(await client.eval(ACQUIRE_LOCK_SCRIPT, { keys: [this.redisKey(key)], arguments: [owner, String(Math.max(1, Math.ceil(ttlMs)))] })) === 1;
  }

  async releaseLock(key: string, owner: string): Promise<void> {
    const client = await this.connected();
    await client.eval(RELEASE_SCRIPT, { keys: [this.redisKey(key)], arguments: [owner] });
  }

  async claimBudget(key: string, limit: number, windowMs: number, leaseTtlMs: number, maxCoolDownMs?: number): Promise<BudgetClaim> {
    const client = await this.connected();
    const claimId = randomUUID();
    const maxCoolDown = maxCoolDownMs === undefined ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.ceil(maxCoolDownMs));
    const args = [String(limit), String(Math.ceil(windowMs)), String(Math.ceil(leaseTtlMs)), claimId, String(maxCoolDown), this.replicaId];
    const budgetKey = this.redisKey(key);
    const answer = await client.eval(CLAIM_SCRIPT, { keys: [budgetKey, `${budgetKey}:cooldown`, `${budgetKey}:replicas`], arguments: args });
    const [granted, retryInMs, cooling, replicas, remaining] = (answer as unknown[]).map(Number);
    return granted === 1 ? { granted: true, claimId, remaining, replicas } : { granted: false, retryInMs, coolingDown: cooling === 1, replicas };
  }

  async settleBudget(key: string, claimId: string, counted?: boolean): Promise<void> {
    const client = await this.connected();
    await client.eval(SETTLE_SCRIPT, { keys: [this.redisKey(key)], arguments: [claimId, counted === false ? '0' : '1'] });
  }

  async coolDown(key: string, durationMs: number): Promise<void> {
    const client = await this.connected();
    await client.eval(COOL_DOWN_SCRIPT, { keys: [`${this.redisKey(key)}:cooldown`], arguments: [String(Math.max(1, Math.ceil(durationMs)))] });
  }

  /**
   * Closes the client the store created from `url`, within {@link CONNECTION_DEADLINE_MS} whatever
   * Redis does (a polite close waits for answers a silent Redis never sends); a client the app gave
   * stays the app's to close.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.connecting = undefined;
    const own = this.ownClient;
    this.ownClient = undefined;
    if (!own) return;
    if (!own.isOpen) return own.destroy();
    const closing = own.close().catch(() => undefined);
    await settleWithin(closing, CONNECTION_DEADLINE_MS, systemClock, 'Redis did not close in time', { keepAlive: true }).catch(() => own.destroy());
  }

  /** Redis' key for the library's `key`: prefixed, and hash-tagged so that a key and its companions (`:cooldown`, `:replicas`) share a cluster slot. */
  private redisKey(key: string): string {
    return `${this.keyPrefix}{${key}}`;
  }

  /**
   * The connection: the app's, or our own, created and connected on first use (a failed or late
   * attempt is dropped and the next call tries again). Once open, node-redis reconnects by itself;
   * meanwhile commands fail at once (no offline queue). `redis` is loaded when a store is made from
   * `url`, never when this module is imported, so importing it starts nothing.
   */
  private async connected(): Promise<RedisClientLike> {
    if (this.closed) throw new Error('RedisTokenStore is closed');
    if (this.appClient) return this.appClient;
    if (this.ownClient?.isReady) return this.ownClient;
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<RedisClientLike> {
    // Open but not ready: node-redis is reconnecting by itself.
    if (this.ownClient?.isOpen) throw new Error('Redis is reconnecting');
    this.ownClient?.destroy();
    const { createClient } = await (this.redisModule ??= import('redis'));
    if (this.closed) throw new Error('RedisTokenStore is closed');
    // No offline queue: while Redis is down commands fail at once, and the library goes on alone.
    const client = createClient({ url: this.url, disableOfflineQueue: true, socket: { connectTimeout: CONNECTION_DEADLINE_MS } }) as RedisClientType;
    client.on('error', () => undefined); // reported by the library's fallback, once; without a listener node-redis would throw
    this.ownClient = client;
    try {
      // A server that accepts TCP but never answers holds the handshake forever: bound it.
      await settleWithin(client.connect(), CONNECTION_DEADLINE_MS, systemClock, `Redis did not answer the handshake within ${CONNECTION_DEADLINE_MS} ms`, { keepAlive: true });
    } catch (error) {
      if (this.ownClient === client) this.ownClient = undefined;
      client.destroy();
      throw error;
    }
    if (this.closed) {
      client.destroy();
      throw new Error('RedisTokenStore is closed');
    }
    return client;
  }

  /** `token` as stored under `fullKey`: JSON, encrypted and bound to `fullKey` when the store has a key. */
  private encode(token: StoredToken, fullKey: string): string {
    const json = JSON.stringify(token);
    if (!this.key) return json;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(fullKey, 'utf8'));
    const data = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
    return `${ENCRYPTED_FORMAT}:${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${data.toString('base64')}`;
  }

  /**
   * The value stored under `fullKey`, unchecked (the library checks every stored token before use). One
   * that cannot be read (another encryptionKey, encrypted or not unlike this store, copied from another
   * key, tampered with, not JSON) counts as no token: the library fetches one, and the store warns once.
   */
  private decode(raw: string, fullKey: string): StoredToken | undefined {
    try {
      return JSON.parse(this.key ? this.decrypt(raw, this.key, fullKey) : plaintextOf(raw)) as StoredToken;
    } catch {
      if (!this.reportedUnreadable) {
        this.reportedUnreadable = true;
        this.logger.warn(
          'RedisTokenStore cannot read a stored token: encrypted with another encryptionKey, encrypted or not unlike this replica, copied from another key, or not a token. This replica fetches its own tokens; give every replica sharing the Redis the same encryptionKey (logged once)',
        );
      }
      return undefined;
    }
  }

  private decrypt(raw: string, key: Buffer, fullKey: string): string {
    const [format, iv, tag, data] = raw.split(':');
    if (format !== ENCRYPTED_FORMAT || data === undefined) throw new Error('not encrypted by this version of the store');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(fullKey, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
  }
}

/** A plaintext value as it is; an encrypted one cannot be read without a key. */
function plaintextOf(raw: string): string {
  if (ENCRYPTED_VALUE.test(raw)) throw new Error('encrypted, and this store has no encryptionKey');
  return raw;
}

function encryptionKeyOf(key: Buffer | string): Buffer {
  if (Buffer.isBuffer(key)) {
    if (key.length !== 32) throw new GenesysAuthError('invalid_options', 'RedisTokenStore: option "encryptionKey" as a Buffer must be 32 bytes');
    return key;
  }
  if (typeof key !== 'string' || key.length < 16) {
    throw new GenesysAuthError('invalid_options', 'RedisTokenStore: option "encryptionKey" as a string must be at least 16 characters (32 random ones are better)');
  }
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Redis' answer to a command on a key holding a value of another type. */
function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

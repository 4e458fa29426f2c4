import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { createClient, type RedisClientType } from 'redis';
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

/** The part of a node-redis client this store uses. */
export type RedisClientLike = Pick<RedisClientType, 'get' | 'set' | 'eval'>;

/** Claims one request of budget: nothing while cooling down; else at most `limit` claims counted in the window (Redis' clock for all replicas). */
const CLAIM_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooling = redis.call('PTTL', KEYS[2])
local maxCoolDown = tonumber(ARGV[5])
if maxCoolDown and cooling > maxCoolDown then
  redis.call('PEXPIRE', KEYS[2], maxCoolDown)
  cooling = maxCoolDown
end
if cooling > 0 then return {0, cooling, 1} end
local limit, window, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], lease + window)
  return {1, 0, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now), 0}
`;

/** The claim's answer arrived: it counts from now (Redis' clock) for the window, or not at all when the API did not count it (ARGV[2] = '0'). */
const SETTLE_SCRIPT = `
if ARGV[2] == '0' then
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
end
return 1
`;

/** Extends a cool-down, never shortens it. */
const COOL_DOWN_SCRIPT = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
`;

/** Deletes the lock only if `owner` still holds it. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Prefix of an encrypted value: AES-256-GCM bound to its Redis key (the `gcm1:` values of earlier versions were not). */
const ENCRYPTED_FORMAT = 'gcm2';

/** Any encrypted value, of this version or another. */
const ENCRYPTED_VALUE = /^gcm\d+:/;

/**
 * A {@link GenesysTokenStore} in Redis, on node-redis (the `redis` package, an optional peer): replicas
 * of an app share tokens (one refresh per cluster, under a `SET NX PX` lock released by
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
  private readonly client: RedisClientLike;
  /** Our own client, when we created it from `url`: connected on first use, closed by {@link close}. */
  private readonly ownClient?: RedisClientType;
  private connecting?: Promise<unknown>;
  /** Once closed, calls fail at once (the library then goes on alone) instead of reopening a connection nothing would close. */
  private closed = false;
  private readonly key?: Buffer;
  private readonly logger = new Logger('GenesysAuth:store');
  /** A value this store could not read was reported: once per store, since every later read would say the same. */
  private reportedUnreadable = false;

  constructor(options: RedisTokenStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? 'genesys-auth:';
    inspectAs(this, () => ({ keyPrefix: this.keyPrefix, encrypted: this.key !== undefined }));
    if (options.encryptionKey !== undefined) this.key = encryptionKeyOf(options.encryptionKey);
    if (options.client) {
      this.client = options.client;
    } else if (typeof options.url === 'string' && options.url !== '') {
      // No offline queue: while Redis is down commands fail at once, and the library falls back to memory.
      this.ownClient = createClient({ url: options.url, disableOfflineQueue: true, socket: { connectTimeout: 2_000 } }) as RedisClientType;
      this.ownClient.on('error', () => undefined); // reported by the library's fallback, once; without a listener node-redis would throw
      this.client = this.ownClient;
    } else {
      throw new GenesysAuthError('invalid_options', 'RedisTokenStore: give either a "url" or a connected "client"');
    }
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    await this.connected();
    const fullKey = this.keyPrefix + key;
    const raw = await this.client.get(fullKey);
    return raw === null ? undefined : this.decode(String(raw), fullKey);
  }

  async setToken(key: string, token: StoredToken): Promise<void> {
    const ttlMs = Math.floor(token.expiresAt - Date.now());
    if (ttlMs <= 0) return;
    await this.connected();
    const fullKey = this.keyPrefix + key;
    await this.client.set(fullKey, this.encode(token, fullKey), { PX: ttlMs });
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.connected();
    return (await this.client.set(this.keyPrefix + key, owner, { PX: Math.max(1, Math.ceil(ttlMs)), NX: true })) === 'OK';
  }

  async releaseLock(key: string, owner: string): Promise<void> {
    await this.connected();
    await this.client.eval(RELEASE_SCRIPT, { keys: [this.keyPrefix + key], arguments: [owner] });
  }

  async claimBudget(key: string, limit: number, windowMs: number, leaseTtlMs: number, maxCoolDownMs?: number): Promise<BudgetClaim> {
    await this.connected();
    const claimId = randomUUID();
    const args = [String(limit), String(Math.ceil(windowMs)), String(Math.ceil(leaseTtlMs)), claimId];
    if (maxCoolDownMs !== undefined) args.push(String(Math.max(1, Math.ceil(maxCoolDownMs))));
    const budgetKey = this.keyPrefix + key;
    const [granted, retryInMs, cooling] = (await this.client.eval(CLAIM_SCRIPT, { keys: [budgetKey, `${budgetKey}:cooldown`], arguments: args })) as number[];
    return granted === 1 ? { granted: true, claimId } : { granted: false, retryInMs: Number(retryInMs), coolingDown: cooling === 1 };
  }

  async settleBudget(key: string, claimId: string, counted?: boolean): Promise<void> {
    await this.connected();
    await this.client.eval(SETTLE_SCRIPT, { keys: [this.keyPrefix + key], arguments: [claimId, counted === false ? '0' : '1'] });
  }

  async coolDown(key: string, durationMs: number): Promise<void> {
    await this.connected();
    await this.client.eval(COOL_DOWN_SCRIPT, { keys: [`${this.keyPrefix + key}:cooldown`], arguments: [String(Math.max(1, Math.ceil(durationMs)))] });
  }

  /** Closes the client the store created from `url`; a client the app gave stays the app's to close. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.ownClient) return;
    const wasOpen = this.ownClient.isOpen;
    this.connecting = undefined;
    if (wasOpen) await this.ownClient.close().catch(() => this.ownClient?.destroy());
    else this.ownClient.destroy();
  }

  /**
   * Connects our own client on first use; a failed attempt is retried by the next call. Once open,
   * node-redis reconnects by itself; meanwhile commands fail at once (no offline queue).
   */
  private async connected(): Promise<void> {
    if (this.closed) throw new Error('RedisTokenStore is closed');
    if (!this.ownClient || this.ownClient.isOpen) return;
    this.connecting ??= this.ownClient.connect().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    await this.connecting;
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

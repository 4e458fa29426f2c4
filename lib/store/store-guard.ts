import { createHash, createHmac } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { settleWithin, systemClock, type Clock } from '../clock.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { BudgetClaim, GenesysTokenStore, StoredToken } from './genesys-token-store.js';
import { storedTokenProblem } from './stored-token.js';

/** Longest a store call may take; then the library goes on alone (memory) for that call. */
export const STORE_CALL_TIMEOUT_MS = 1_000;

/** Longest the library waits for a store to close at shutdown: long enough for the Redis store's own bounded close (2 s). */
const STORE_CLOSE_TIMEOUT_MS = 3_000;

/** While the store does not answer, how often one call tries it again. */
const STORE_PROBE_INTERVAL_MS = 1_000;

/** How much later than another replica one may find the store back: its next probe, and that probe's bound. */
export const STORE_RECOVERY_SPREAD_MS = STORE_PROBE_INTERVAL_MS + STORE_CALL_TIMEOUT_MS;

/** Thrown by a guarded budget claim when the store did not answer: the caller counts locally instead. */
export class StoreUnavailable extends Error {}

/**
 * A store as the library uses it: every call bounded by {@link STORE_CALL_TIMEOUT_MS}, every failure
 * turned into "go on alone" (never an error for a caller). One guard per store object, shared by every
 * client using it, so a Redis outage is logged once (and its end once) however many clients there are.
 */
export class StoreGuard {
  private readonly logger = new Logger('GenesysAuth:store');
  private failing = false;
  /** When the store last came back after failing (epoch ms; 0 if it never failed). */
  private answeringAgainSince = 0;
  private lastProbeAt = 0;
  private users = 0;
  /** Keys whose unusable value was reported: one warning per bad value, not one per read. */
  private readonly distrustedKeys = new Set<string>();

  private constructor(
    private readonly store: GenesysTokenStore,
    private readonly clock: Clock,
  ) {}

  /** Whether the store failed its last call: clients run on their own tokens and budgets meanwhile. */
  get degraded(): boolean {
    return this.failing;
  }

  /**
   * Whether to use the store now: always while it answers; while it does not, once a second (one
   * caller's call finds out whether it is back, the others go on alone).
   */
  private useNow(now: number): boolean {
    if (!this.probeDue(now)) return !this.failing;
    this.lastProbeAt = now;
    return true;
  }

  /** Whether the store came back from an outage less than `ms` ago: what was counted meanwhile is not in its counts. */
  recoveredWithin(ms: number): boolean {
    return this.clock.now() - this.answeringAgainSince < ms;
  }

  /** Whether a call now would reach the store (it answers, or a probe is due), without taking the probe. */
  wouldUse(now: number): boolean {
    return !this.failing || this.probeDue(now);
  }

  private probeDue(now: number): boolean {
    return this.failing && now - this.lastProbeAt >= STORE_PROBE_INTERVAL_MS;
  }

  /**
   * The token stored under `key`, if there is one the library may use. Whoever can write to the store
   * can put anything there: a value that fails the checks of a token-endpoint answer counts as no token
   * (the caller fetches one), with one warning that never shows the value.
   */
  async getToken(key: string): Promise<StoredToken | undefined> {
    const stored: unknown = await this.call(() => this.store.getToken(key), undefined);
    if (stored === undefined) return undefined;
    const problem = storedTokenProblem(stored, this.clock.now());
    if (!problem) {
      this.distrustedKeys.delete(key);
      return stored as StoredToken;
    }
    if (!this.distrustedKeys.has(key)) {
      this.distrustedKeys.add(key);
      this.logger.warn(`Genesys token store: ignored an unusable stored token of a client (${problem}); a new token is fetched`);
    }
    return undefined;
  }

  setToken(key: string, token: StoredToken): Promise<void> {
    this.distrustedKeys.delete(key);
    return this.call(() => this.store.setToken(key, token), undefined);
  }

  /** `true` also when the store failed: then this replica refreshes on its own. */
  acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.call(() => this.store.acquireLock(key, owner, ttlMs), true);
  }

  releaseLock(key: string, owner: string): Promise<void> {
    return this.call(() => this.store.releaseLock(key, owner), undefined);
  }

  /**
   * The store's answer, checked: a claim without an id, a wait that is not a number of ms (bounded by
   * `windowMs` plus the lease, or by the cool-down ceiling) or a replica count that is not a positive
   * integer counts as no answer. While the store is failing, no caller waits on it: the claim due as
   * the probe goes on without the caller, and if it is granted, its budget goes back uncounted.
   * @throws StoreUnavailable when the store failed or gave no usable answer: count this request locally.
   */
  async claimBudget(key: string, limit: number, windowMs: number, leaseTtlMs: number, maxCoolDownMs: number): Promise<BudgetClaim> {
    // An answer that is not a claim counts as a failure of the store (once-a-second probes, logged once): retrying it at once would only spin.
    const claiming = async () => {
      const answer = claimOf(await this.store.claimBudget(key, limit, windowMs, leaseTtlMs, maxCoolDownMs), Math.max(windowMs + leaseTtlMs, maxCoolDownMs));
      if (!answer) throw new Error('the store answered a budget claim with something that is not one');
      return answer;
    };
    if (this.failing) {
      if (this.useNow(this.clock.now())) {
        void this.attempt<BudgetClaim | undefined>(claiming, undefined).then((probe) => {
          if (probe?.granted) void this.settleBudget(key, probe.claimId, false);
        });
      }
      throw new StoreUnavailable();
    }
    const claim = await this.attempt<BudgetClaim | undefined>(claiming, undefined);
    if (!claim) throw new StoreUnavailable();
    return claim;
  }

  /** See {@link GenesysTokenStore.settleBudget}; `counted: false` frees the claim at once. */
  settleBudget(key: string, claimId: string, counted?: boolean): Promise<void> {
    return this.call(() => this.store.settleBudget(key, claimId, counted), undefined);
  }

  coolDown(key: string, durationMs: number): Promise<void> {
    return this.call(() => this.store.coolDown(key, durationMs), undefined);
  }

  /** A client starts using the store. */
  retain(): void {
    this.users++;
  }

  /** A client stopped using the store; the last one closes the store's own connections. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    guards.delete(this.store);
    // A store whose close never settles (a client politely waiting on a silent server) must not hold up shutdown.
    const closing = (async () => this.store.close?.())();
    await settleWithin(closing, STORE_CLOSE_TIMEOUT_MS, this.clock, 'the store did not close in time').catch(() => undefined);
  }

  /**
   * Runs `operation` within {@link STORE_CALL_TIMEOUT_MS}, or gives `fallback` when it fails. While the
   * store is failing, only one call a second tries it (the probe); the others get `fallback` at once,
   * so a silent store costs callers nothing beyond that probe.
   */
  private async call<T>(operation: () => Promise<T>, fallback: T): Promise<T> {
    if (this.failing && !this.useNow(this.clock.now())) return fallback;
    return this.attempt(operation, fallback);
  }

  /** Runs `operation` within {@link STORE_CALL_TIMEOUT_MS}, or gives `fallback` when it fails; its outcome tells whether the store answers. */
  private async attempt<T>(operation: () => Promise<T>, fallback: T): Promise<T> {
    try {
      const result = await settleWithin(operation(), STORE_CALL_TIMEOUT_MS, this.clock, `no answer within ${STORE_CALL_TIMEOUT_MS} ms`);
      if (this.failing) {
        this.failing = false;
        this.answeringAgainSince = this.clock.now();
        this.logger.log('Genesys token store reachable again: tokens and rate budgets are shared again');
      }
      return result;
    } catch (error) {
      // The next probe is due a second after this failure, not after its start: a call that failed by
      // timing out would otherwise make the next one due at once, and callers would probe in turn.
      this.lastProbeAt = this.clock.now();
      if (!this.failing) {
        this.failing = true;
        // The store's error message may name its host; it never holds a token (keys are hashed, values are not in errors).
        const reason = error instanceof Error ? error.message : 'unknown error';
        this.logger.warn(`Genesys token store unavailable (${reason}): each replica uses its own tokens and rate budgets until it is back`);
      }
      return fallback;
    }
  }

  /** The guard of `store`, created on first use, on `clock` (the first user's; every client's is the system clock outside tests). */
  static of(store: GenesysTokenStore, clock: Clock = systemClock): StoreGuard {
    let guard = guards.get(store);
    if (!guard) {
      guard = new StoreGuard(store, clock);
      guards.set(store, guard);
    }
    return guard;
  }
}

const guards = new Map<GenesysTokenStore, StoreGuard>();

/** Most replicas a store may say share a token; more would make each one's share meaningless. */
const MAX_REPLICAS = 10_000;

/** Whether `value` is absent or an integer of at least `least`. */
function isOptionalCount(value: unknown, least: number): value is number | undefined {
  return value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= least);
}

/** `answer` as a {@link BudgetClaim}, if it is one; waits bounded by `maxWaitMs`. */
function claimOf(answer: unknown, maxWaitMs: number): BudgetClaim | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined;
  const { granted, claimId, retryInMs, coolingDown, replicas, remaining } = answer as Record<string, unknown>;
  if (!isOptionalCount(replicas, 1) || !isOptionalCount(remaining, 0)) return undefined;
  const shared = replicas === undefined ? {} : { replicas: Math.min(replicas, MAX_REPLICAS) };
  if (granted === true) {
    if (typeof claimId !== 'string' || claimId === '') return undefined;
    return { granted, claimId, ...shared, ...(remaining === undefined ? {} : { remaining }) };
  }
  if (granted !== false || typeof retryInMs !== 'number' || !(retryInMs >= 0)) return undefined;
  return { granted, retryInMs: Math.min(Math.max(1, retryInMs), maxWaitMs), coolingDown: coolingDown === true, ...shared };
}

/** Store keys of one client. */
export interface ClientStoreKeys {
  /** Where the token of pool slot `slot` is stored. */
  token(slot: number): string;
  /** The refresh lock of pool slot `slot`. */
  lock(slot: number): string;
  /** The rate budget of one token. */
  budget(accessToken: string): string;
}

/**
 * The keys of the client `config` describes. Token and lock keys name the client by an HMAC keyed by
 * its secret over its login host, client id and scopes: only a registration with the right secret
 * finds its token in a shared store (a wrong secret finds nothing, and the token endpoint refuses it),
 * and the key gives away neither the secret nor a plain hash of it.
 */
export function storeKeysOf(config: ResolvedGenesysAuthConfig): ClientStoreKeys {
  const identity = JSON.stringify([new URL(config.loginBaseUrl).host, config.clientId, [...config.scopes].sort()]);
  const client = createHmac('sha256', config.clientSecret).update(identity).digest('base64url');
  return {
    token: (slot) => `token:${client}:${slot}`,
    lock: (slot) => `lock:${client}:${slot}`,
    budget: (accessToken) => `budget:${createHash('sha256').update(accessToken).digest('base64url').slice(0, 32)}`,
  };
}

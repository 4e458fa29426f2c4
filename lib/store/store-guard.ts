import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import type { BudgetClaim, GenesysTokenStore, StoredToken } from './genesys-token-store.js';

/** Longest a store call may take; then the library goes on alone (memory) for that call. */
export const STORE_CALL_TIMEOUT_MS = 1_000;

/** While the store does not answer, how often one call tries it again. */
const STORE_PROBE_INTERVAL_MS = 1_000;

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
  private lastProbeAt = 0;
  private users = 0;

  private constructor(private readonly store: GenesysTokenStore) {}

  /** Whether the store failed its last call: clients run on their own tokens and budgets meanwhile. */
  get degraded(): boolean {
    return this.failing;
  }

  /**
   * Whether to use the store now: always while it answers; while it does not, once a second (one
   * caller's call finds out whether it is back, the others go on alone).
   */
  useNow(now: number): boolean {
    if (!this.probeDue(now)) return !this.failing;
    this.lastProbeAt = now;
    return true;
  }

  /** Whether {@link useNow} would say yes, without taking the probe. */
  wouldUse(now: number): boolean {
    return !this.failing || this.probeDue(now);
  }

  private probeDue(now: number): boolean {
    return this.failing && now - this.lastProbeAt >= STORE_PROBE_INTERVAL_MS;
  }

  getToken(key: string): Promise<StoredToken | undefined> {
    return this.call(() => this.store.getToken(key), undefined);
  }

  setToken(key: string, token: StoredToken): Promise<void> {
    return this.call(() => this.store.setToken(key, token), undefined);
  }

  /** `true` also when the store failed: then this replica refreshes on its own. */
  acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.call(() => this.store.acquireLock(key, owner, ttlMs), true);
  }

  releaseLock(key: string, owner: string): Promise<void> {
    return this.call(() => this.store.releaseLock(key, owner), undefined);
  }

  /** @throws StoreUnavailable when the store failed: count this request locally. */
  async claimBudget(key: string, limit: number, windowMs: number, leaseTtlMs: number): Promise<BudgetClaim> {
    const claim = await this.call<BudgetClaim | undefined>(() => this.store.claimBudget(key, limit, windowMs, leaseTtlMs), undefined);
    if (!claim) throw new StoreUnavailable();
    return claim;
  }

  settleBudget(key: string, claimId: string): Promise<void> {
    return this.call(() => this.store.settleBudget(key, claimId), undefined);
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
    await this.store.close?.().catch(() => undefined);
  }

  private async call<T>(operation: () => Promise<T>, fallback: T): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        operation(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${STORE_CALL_TIMEOUT_MS} ms`)), STORE_CALL_TIMEOUT_MS);
          timer.unref();
        }),
      ]);
      if (this.failing) {
        this.failing = false;
        this.logger.log('Genesys token store reachable again: tokens and rate budgets are shared again');
      }
      return result;
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        // The store's error message may name its host; it never holds a token (keys are hashed, values are not in errors).
        const reason = error instanceof Error ? error.message : 'unknown error';
        this.logger.warn(`Genesys token store unavailable (${reason}): each replica uses its own tokens and rate budgets until it is back`);
      }
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The guard of `store`, created on first use. */
  static of(store: GenesysTokenStore): StoreGuard {
    let guard = guards.get(store);
    if (!guard) {
      guard = new StoreGuard(store);
      guards.set(store, guard);
    }
    return guard;
  }
}

const guards = new Map<GenesysTokenStore, StoreGuard>();

/** Store keys of one client: its login host, client id and scopes (never the secret). */
export interface ClientStoreKeys {
  token(slot: number): string;
  lock(slot: number): string;
  budget(accessToken: string): string;
}

/** The keys of the client `config` describes. */
export function storeKeysOf(config: ResolvedGenesysAuthConfig): ClientStoreKeys {
  const client = `${new URL(config.loginBaseUrl).host}:${config.clientId}:${[...config.scopes].sort().join(',')}`;
  return {
    token: (slot) => `token:${client}:${slot}`,
    lock: (slot) => `lock:${client}:${slot}`,
    budget: (accessToken) => `budget:${createHash('sha256').update(accessToken).digest('base64url').slice(0, 32)}`,
  };
}

import { randomUUID } from 'node:crypto';
import type { BudgetClaim, GenesysTokenStore, StoredToken } from './genesys-token-store.js';

interface Budget {
  /** Claim id → when it stops counting (in flight: its lease's end plus the window) and its window. */
  readonly claims: Map<string, { countsUntil: number; windowMs: number }>;
  coolingUntil: number;
  /** Dropped once nothing in it counts any more, so the map does not grow with every token ever used. */
  idleAfter: number;
}

/**
 * A {@link GenesysTokenStore} in this process's memory: lets several clients or apps in one process
 * share tokens and budgets, and serves as the reference the Redis store is tested against. Replicas
 * in other processes need a shared store such as `RedisTokenStore` (`nestjs-genesys-auth/redis`).
 */
export class MemoryTokenStore implements GenesysTokenStore {
  private readonly tokens = new Map<string, StoredToken>();
  private readonly locks = new Map<string, { owner: string; until: number }>();
  private readonly budgets = new Map<string, Budget>();

  constructor(private readonly now: () => number = Date.now) {}

  async getToken(key: string): Promise<StoredToken | undefined> {
    const token = this.tokens.get(key);
    if (token && token.expiresAt <= this.now()) this.tokens.delete(key);
    return this.tokens.get(key);
  }

  async setToken(key: string, token: StoredToken): Promise<void> {
    this.tokens.set(key, token);
  }

  async acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const held = this.locks.get(key);
    if (held && held.until > this.now() && held.owner !== owner) return false;
    this.locks.set(key, { owner, until: this.now() + ttlMs });
    return true;
  }

  async releaseLock(key: string, owner: string): Promise<void> {
    if (this.locks.get(key)?.owner === owner) this.locks.delete(key);
  }

  async claimBudget(key: string, limit: number, windowMs: number, leaseTtlMs: number, maxCoolDownMs?: number): Promise<BudgetClaim> {
    const now = this.now();
    this.dropIdleBudgets(now);
    const budget = this.budgetOf(key, now);
    if (maxCoolDownMs !== undefined) budget.coolingUntil = Math.min(budget.coolingUntil, now + maxCoolDownMs);
    if (budget.coolingUntil > now) return { granted: false, retryInMs: budget.coolingUntil - now, coolingDown: true };
    for (const [id, claim] of budget.claims) if (claim.countsUntil <= now) budget.claims.delete(id);
    if (budget.claims.size >= limit) {
      const first = Math.min(...[...budget.claims.values()].map((claim) => claim.countsUntil));
      return { granted: false, retryInMs: Math.max(1, first - now) };
    }
    const claimId = randomUUID();
    budget.claims.set(claimId, { countsUntil: now + leaseTtlMs + windowMs, windowMs });
    budget.idleAfter = Math.max(budget.idleAfter, now + leaseTtlMs + windowMs);
    return { granted: true, claimId, remaining: limit - budget.claims.size };
  }

  async settleBudget(key: string, claimId: string, counted?: boolean): Promise<void> {
    const claims = this.budgets.get(key)?.claims;
    const claim = claims?.get(claimId);
    if (!claims || !claim) return;
    if (counted === false) claims.delete(claimId);
    else claim.countsUntil = this.now() + claim.windowMs;
  }

  async coolDown(key: string, durationMs: number): Promise<void> {
    const now = this.now();
    const budget = this.budgetOf(key, now);
    budget.coolingUntil = Math.max(budget.coolingUntil, now + durationMs);
    budget.idleAfter = Math.max(budget.idleAfter, budget.coolingUntil);
  }

  private budgetOf(key: string, now: number): Budget {
    let budget = this.budgets.get(key);
    if (!budget) {
      budget = { claims: new Map(), coolingUntil: 0, idleAfter: now };
      this.budgets.set(key, budget);
    }
    return budget;
  }

  private dropIdleBudgets(now: number): void {
    for (const [key, budget] of this.budgets) if (budget.idleAfter < now) this.budgets.delete(key);
  }
}

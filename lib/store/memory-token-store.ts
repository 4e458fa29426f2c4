import { randomUUID } from 'node:crypto';
import { systemClock } from '../clock.js';
import { SlidingWindowBudget, type BudgetLease } from '../rate-limit/sliding-window-budget.js';
import type { BudgetClaim, GenesysTokenStore, StoredToken } from './genesys-token-store.js';

interface Budget {
  /** Counted by the rule of the key's first claim (replicas sharing a key are configured alike) until the key is idle. */
  window?: SlidingWindowBudget;
  /** Claims by id until settled; one never settled stays until the window counts it as lost and a claim finds it. */
  readonly claims: Map<string, BudgetLease>;
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

  constructor(private readonly now: () => number = systemClock.now) {}

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
    const window = (budget.window ??= new SlidingWindowBudget(limit, windowMs, leaseTtlMs));
    const remaining = window.remaining(now);
    if (remaining <= 0) return { granted: false, retryInMs: Math.max(1, window.latestFreeAt(now) - now) };
    if (budget.claims.size >= limit) {
      for (const [id, claim] of budget.claims) if (claim.settled) budget.claims.delete(id); // lost claims: the window counted them as answered
    }
    const claimId = randomUUID();
    budget.claims.set(claimId, window.take(now));
    budget.idleAfter = Math.max(budget.idleAfter, now + leaseTtlMs + windowMs);
    return { granted: true, claimId, remaining: remaining - 1 };
  }

  async settleBudget(key: string, claimId: string, counted?: boolean): Promise<void> {
    const budget = this.budgets.get(key);
    const claim = budget?.claims.get(claimId);
    if (!budget || !claim) return;
    budget.claims.delete(claimId);
    budget.window?.settle(claim, this.now(), counted !== false);
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

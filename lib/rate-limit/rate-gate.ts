import type { Subscription } from 'rxjs';
import type { Clock } from '../clock.js';
import { GenesysAuthError } from '../errors.js';
import type { GenesysRateLimitOptions } from '../interfaces/genesys-auth-options.interface.js';
import type { GenesysTokenService } from '../token/genesys-token.service.js';
import type { BudgetRule, TokenRecord } from '../token/token-record.js';
import { STORE_RECOVERY_SPREAD_MS, StoreUnavailable, type ClientStoreKeys, type StoreGuard } from '../store/store-guard.js';
import type { BudgetLease, SlidingWindowBudget } from './sliding-window-budget.js';
import { WaitingLine } from './waiting-line.js';

/**
 * How long the first caller in the shared line waits before asking the store again when budget may
 * free up sooner than the store said (answers in flight, here or at other replicas), unless a
 * cool-down says how long. An answer seen here wakes it at once.
 */
const SHARED_POLL_MS = 100;

/** A claim's answer when the store did not give one: count the request here. */
const STORE_UNAVAILABLE = 'store unavailable';

/** A token with budget for one request; release it when the request's answer (or failure) arrives. */
export interface GateLease {
  readonly accessToken: string;
  /**
   * Idempotent. Until released, the request counts as in flight against its token's budget. `status`
   * is the API's answer, if one came: a 401 or a 429 gives the budget back (see {@link countedByApi}),
   * and a 429 keeps the token on trial after its cool-down.
   */
  release(status?: number | typeof NOT_SENT): void;
}

/** What a lease is released with when its request was never sent (the caller gave up as the budget came): nothing counts. */
export const NOT_SENT = 'not sent';

/**
 * Whether the API counted a request against its token's budget: not when it could not authenticate it
 * (401), nor when it refused it for a limit (429), whose `Retry-After` cool-down is the server's own word
 * on when to go on. Counting refused requests let a burst of 429s use up the budget and starve every
 * route for a window after the limit had ended.
 */
function countedByApi(status: number | typeof NOT_SENT | undefined): boolean {
  return status !== 401 && status !== 429 && status !== NOT_SENT;
}

/**
 * Paces one client's API requests to its per-token budgets: picks the token of the pool with the
 * most budget left, and when none has any (or all are cooling down after a 429), makes callers wait
 * in FIFO order, each at most `maxWaitMs`, at most `maxQueued` of them. What it knows of each token
 * (budget, cool-down, trial) is in the token's {@link TokenRecord}.
 */
export class RateGate {
  private readonly rule: BudgetRule;
  /**
   * Callers waiting for budget, in order. While budgets are shared through the store, only the first
   * asks the store, and sleeps as long as its answer says: a thousand waiting callers cost the store
   * what one does. Otherwise they are served as budget frees up here.
   */
  private readonly line: WaitingLine<GateLease>;
  private servingFromStore = false;
  /** Claims this gate may have at the store at once before callers queue: what the store last said remains (at least 1). */
  private sharedCredit = 1;
  private sharedClaimsInFlight = 0;
  /** Budgets are counted in the store (its last claim answered); cleared when it stops answering. */
  private countingInStore = false;
  /** Aborted to wake the first caller early while it sleeps on the store's word (an answer arrived, a token was refreshed, or the gate closed). */
  private storeServerAlarm?: AbortController;
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = Number.POSITIVE_INFINITY;
  private readonly subscription: Subscription;
  private stopped = false;

  constructor(
    private readonly limits: Required<GenesysRateLimitOptions>,
    private readonly tokens: GenesysTokenService,
    private readonly clock: Clock,
    /** Longest a request may hold budget without its answer being seen (its deadline); then it counts as answered. */
    private readonly leaseTimeoutMs: number,
    /** A store shared with other replicas: budgets are counted there, for the cluster, while it answers. */
    private readonly shared?: { readonly guard: StoreGuard; readonly keys: ClientStoreKeys },
  ) {
    this.rule = { requestsPerToken: limits.requestsPerToken, windowMs: limits.windowMs, leaseTimeoutMs };
    this.line = new WaitingLine(
      clock,
      (waitedMs) => this.expiredInLine(waitedMs),
      () => this.throttled('the caller aborted the request while it waited'),
    );
    this.subscription = tokens.events$.subscribe((event) => {
      if (event.type === 'refreshed') this.drain();
    });
  }

  /** Takes budget on the best token at once, without waiting; `undefined` when the caller must wait (or others already do). */
  tryTake(now = this.clock.now()): GateLease | undefined {
    if (this.shared?.guard.wouldUse(now)) return undefined; // a shared budget is only known to the store
    return this.line.size === 0 ? this.take(now) : undefined;
  }

  /** Whether budgets are counted in the shared store now (it is configured and answering, or due for a probe, which the claim takes). */
  private get sharing(): boolean {
    return this.shared !== undefined && this.shared.guard.wouldUse(this.clock.now());
  }

  /**
   * A token with budget for one request, waiting in line for one if needed, until `deadline` (epoch ms)
   * or until `signal` aborts (the waiter then leaves the line without using budget).
   * @throws GenesysAuthError `throttled` when the deadline passes or the line is full; the token
   * service's error when no token can be had at all.
   */
  async acquire(deadline: number, signal?: AbortSignal): Promise<GateLease> {
    if (this.line.size === 0 && this.sharedClaimsInFlight < this.sharedCredit && this.sharing) {
      const claimed = await this.claimFromStore(deadline);
      if (typeof claimed === 'object') return claimed;
      if (claimed !== STORE_UNAVAILABLE) {
        this.assertNotRefused(); // no budget now: waiting for it could only end in a 401
        if (this.clock.now() + claimed > deadline) throw this.sharedBudgetTooFar();
      }
    }
    const taken = this.tryTake();
    if (taken) return taken;
    this.assertNotRefused();
    if (this.tokens.pool.every((slot) => !slot.usableToken())) {
      await this.tokens.getToken(); // nothing to wait for yet: fetch the first token (shared with other callers)
      return this.acquire(deadline, signal);
    }
    this.assertRoomInLine();
    if (deadline <= this.clock.now()) throw this.throttled(`no rate budget left and rateLimit.maxWaitMs (${this.limits.maxWaitMs} ms) used up`);
    const waiting = this.line.wait(deadline, signal);
    this.tokens.fillPool(); // another token of the pool brings another budget
    this.drain();
    return waiting;
  }

  /**
   * Serves the line from the store while it answers: the first caller claims, and while there is no
   * budget, sleeps as long as the store says (or until an answer or a refresh here wakes it). Callers
   * whose deadline comes before the next chance leave at once. Once the store stops answering, the
   * line is served here.
   */
  private async serveFromStore(): Promise<void> {
    if (this.servingFromStore) return;
    this.servingFromStore = true;
    try {
      while (!this.stopped && this.line.first() && this.sharing) {
        let claimed: GateLease | number | typeof STORE_UNAVAILABLE;
        try {
          claimed = await this.claimFromStore(this.line.first()!.deadline);
        } catch (failure) {
          // No token could be had (the token service's own error for this caller): it ends the first caller's wait.
          const first = this.line.first();
          if (first) this.line.settle(first, failure instanceof GenesysAuthError ? failure : this.throttled(String(failure)));
          continue;
        }
        if (claimed === STORE_UNAVAILABLE) break;
        if (typeof claimed === 'object') {
          this.settleFirst(claimed);
          continue;
        }
        try {
          this.assertNotRefused();
        } catch (refused) {
          this.line.settleEach(() => (refused as GenesysAuthError).forCaller());
          break;
        }
        this.tokens.fillPool(); // another token of the pool brings another budget
        const wakeAt = this.clock.now() + claimed;
        this.line.settleEach((waiter) => (waiter.deadline < wakeAt ? this.sharedBudgetTooFar() : undefined));
        await this.sleepUntilWoken(claimed);
      }
    } finally {
      this.servingFromStore = false;
    }
    if (this.line.size > 0) this.drain(); // the store stopped answering: served here
  }

  /** A claim from the store for the first caller (see {@link claimShared}); a failure of the token service is that caller's. */
  private async claimFromStore(deadline: number): Promise<GateLease | number | typeof STORE_UNAVAILABLE> {
    try {
      return await this.claimShared(deadline);
    } catch (error) {
      if (!(error instanceof StoreUnavailable)) throw error;
      this.countAlone(this.clock.now());
      return STORE_UNAVAILABLE;
    }
  }

  /**
   * How long to wait after a refused claim. A cool-down read from the store is bounded like one of our
   * own (another replica may be configured otherwise). Without one, a wait within the window is exact
   * (the oldest counted answer leaves it then); a longer one means every claim is still in flight, and
   * one may be answered any moment, here (which wakes us) or at another replica (which we poll for).
   */
  private sharedRetryInMs(retryInMs: number, coolingDown: boolean): number {
    if (coolingDown) return Math.min(retryInMs, this.limits.maxCoolDownMs);
    return retryInMs <= this.limits.windowMs ? retryInMs : SHARED_POLL_MS;
  }

  /** Gives `lease` to the first caller; a lease no one is left to use goes back uncounted. */
  private settleFirst(lease: GateLease): void {
    const first = this.line.first();
    if (first) this.line.settle(first, lease);
    else lease.release(401);
  }

  /** Waits `ms`, or less when woken (see {@link wakeStoreServer}). */
  private async sleepUntilWoken(ms: number): Promise<void> {
    const alarm = new AbortController();
    this.storeServerAlarm = alarm;
    await this.clock.sleep(ms, alarm.signal);
    if (this.storeServerAlarm === alarm) this.storeServerAlarm = undefined;
  }

  /** Wakes the first caller if it sleeps on the store's word. */
  private wakeStoreServer(): void {
    this.storeServerAlarm?.abort();
  }

  /**
   * One claim on the store, on the held tokens in turn (the first with budget wins) while `deadline`
   * has not passed: a lease, or how many ms until budget may free up. Fetches a token first when none
   * is held.
   * @throws StoreUnavailable when the store did not answer.
   */
  private async claimShared(deadline: number): Promise<GateLease | number> {
    const { guard, keys } = this.shared!;
    for (;;) {
      if (this.stopped) throw this.shutdown('the application is shutting down');
      const now = this.clock.now();
      // Requests sent while the store did not answer are not in its count: until a window after every replica has found
      // it back, keep to our share too.
      const recovering = guard.degraded || guard.recoveredWithin(this.limits.windowMs + STORE_RECOVERY_SPREAD_MS);
      const candidates = this.tokens.pool.flatMap((slot) => {
        const record = slot.usableRecord();
        return record?.open(now) && (!recovering || record.budgetUnder(this.rule).remaining(now) > 0) ? [record] : [];
      });
      if (candidates.length === 0 && this.tokens.pool.every((slot) => !slot.usableToken())) {
        await this.tokens.getToken();
        continue;
      }
      if (candidates.length === 0) return SHARED_POLL_MS; // every token cooling down or on trial: look again soon
      let waitMs = Number.POSITIVE_INFINITY;
      for (const record of candidates) {
        // Each claim may take up to the store's bound: a pool of tokens must not add them up past the caller's deadline.
        if (this.clock.now() >= deadline) break;
        const key = keys.budget(record.accessToken);
        this.sharedClaimsInFlight++;
        const claim = await guard
          .claimBudget(key, this.limits.requestsPerToken, this.limits.windowMs, this.leaseTimeoutMs, this.limits.maxCoolDownMs)
          .finally(() => this.sharedClaimsInFlight--);
        if (this.stopped) {
          if (claim.granted) void guard.settleBudget(key, claim.claimId, false); // nothing will be sent on it
          throw this.shutdown('the application is shutting down');
        }
        // A refusal for a cool-down says nothing of the count; any other refusal means the window is full.
        const usedInWindow = claim.granted ? this.limits.requestsPerToken - (claim.remaining ?? 0) : claim.coolingDown ? undefined : this.limits.requestsPerToken;
        if (!recovering) record.budgetUnder(this.rule).shareWith(claim.replicas ?? 1, usedInWindow); // after an outage the store has forgotten who was there
        this.countingInStore = true;
        this.sharedCredit = claim.granted ? Math.min(Math.max(1, claim.remaining ?? 1), this.limits.requestsPerToken) : 1;
        const grantedAt = this.clock.now();
        // Claims run side by side: while recovering, others may have used up our share during this one.
        const withinShare = !recovering || record.budgetUnder(this.rule).remaining(grantedAt) > 0;
        if (claim.granted && record.open(grantedAt) && withinShare) return this.sharedLease(record, key, claim.claimId);
        if (claim.granted) {
          void guard.settleBudget(key, claim.claimId, false); // another caller's probe, or our share, went first meanwhile
          waitMs = Math.min(waitMs, Math.max(1, record.nextFreeAt(grantedAt, this.rule) - grantedAt));
        } else waitMs = Math.min(waitMs, this.sharedRetryInMs(claim.retryInMs, claim.coolingDown === true));
      }
      return Number.isFinite(waitMs) ? waitMs : SHARED_POLL_MS;
    }
  }

  /** A lease on budget claimed from the store: settled there too, which may free budget for the line. */
  private sharedLease(record: TokenRecord, key: string, claimId: string): GateLease {
    return this.leaseOf(record, (counted) => void this.shared!.guard.settleBudget(key, claimId, counted).then(() => this.wakeStoreServer()));
  }

  /** Rejects every waiting caller with a `shutdown` error saying `because`, and stops. */
  close(because: string): void {
    this.stopped = true;
    this.subscription.unsubscribe();
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    this.line.settleEach(() => this.shutdown(because));
    this.wakeStoreServer();
  }

  /** Serves waiters in order while some token has budget; then sleeps until the next budget or cool-down frees up. */
  private drain(): void {
    if (this.stopped || this.line.size === 0) return;
    const now = this.clock.now();
    if (this.shared?.guard.wouldUse(now)) {
      this.wakeStoreServer();
      void this.serveFromStore();
      return;
    }
    for (let waiter = this.line.first(); waiter; waiter = this.line.first()) {
      const lease = this.take(now);
      if (!lease) break;
      this.line.settle(waiter, lease);
    }
    if (this.line.size > 0) {
      this.tokens.fillPool();
      this.scheduleWake(now);
    }
  }

  /** From now on budgets are counted here, not in the store: once per outage, take this replica's share of what the store counted. */
  private countAlone(now: number): void {
    if (!this.countingInStore) return;
    this.countingInStore = false;
    for (const slot of this.tokens.pool) slot.heldRecord?.budgetUnder(this.rule).countAloneFrom(now);
  }

  private take(now: number): TokenLease | undefined {
    this.countAlone(now);
    let best: TokenRecord | undefined;
    let bestRemaining = 0;
    for (const slot of this.tokens.pool) {
      const record = slot.usableRecord();
      const remaining = record?.open(now) ? record.budgetUnder(this.rule).remaining(now) : 0;
      if (remaining > bestRemaining) {
        best = record;
        bestRemaining = remaining;
      }
    }
    return best && this.leaseOf(best, this.drainIfWaiting, now);
  }

  private readonly drainIfWaiting = (): void => {
    if (this.line.size > 0) this.drain();
  };

  /**
   * A lease on `record`'s budget, counted here (a shared claim too, so that if the store stops
   * answering, this replica's own recent requests still count against its share). On release,
   * `settled` learns whether the API counted the request.
   */
  private leaseOf(record: TokenRecord, settled: (counted: boolean) => void, now = this.clock.now()): TokenLease {
    const budget = record.budgetUnder(this.rule);
    return budget.takeFor(new TokenLease(record, budget, now, record.startProbe(now, this.leaseTimeoutMs), this.clock, settled));
  }

  /**
   * When a held token next has budget and is not cooling down; infinity when that waits on answers
   * in flight (a probe's included) or on a refresh (both wake us).
   */
  private nextFreeAt(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const slot of this.tokens.pool) {
      const record = slot.usableRecord();
      if (record) next = Math.min(next, record.nextFreeAt(now, this.rule));
    }
    return next;
  }

  private scheduleWake(now: number): void {
    const at = this.nextFreeAt(now);
    if (at === Number.POSITIVE_INFINITY || (this.wakeTimer && this.wakeAt <= at)) return;
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.clock.setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.drain();
    }, at - now);
  }

  /** The error of a caller of the local line whose deadline passed. */
  private expiredInLine(waitedMs: number): GenesysAuthError {
    const cooling = this.tokens.getState().pool.coolingDown;
    const why = cooling > 0 ? `${cooling} of ${this.tokens.pool.length} tokens cooling down after a 429, the others out of budget` : 'every token out of budget';
    return this.throttled(
      `waited ${waitedMs} ms for rate budget (${why}: ${this.limits.requestsPerToken} requests per ${this.limits.windowMs} ms per token), the limit set by rateLimit.maxWaitMs`,
    );
  }

  /** The error of a shared-line caller whose deadline comes before the store's next budget. */
  private sharedBudgetTooFar(): GenesysAuthError {
    return this.throttled(
      `rate budget shared with other replicas (${this.limits.requestsPerToken} requests per ${this.limits.windowMs} ms per token) frees up only after rateLimit.maxWaitMs (${this.limits.maxWaitMs} ms)`,
    );
  }

  /** Fails fast once `maxQueued` callers wait. */
  private assertRoomInLine(): void {
    if (this.line.size >= this.limits.maxQueued) {
      throw this.throttled(`rateLimit.maxQueued (${this.limits.maxQueued}) requests are already waiting`);
    }
  }

  /**
   * While the API refuses this client's fresh tokens and no renewal is due, a caller that would wait
   * for budget on a held token gets the refusal at once: waiting in line could only end in a 401. (A
   * caller waiting for the token a renewal is fetching waits for it.)
   */
  private assertNotRefused(): void {
    if (!this.tokens.refusingFreshTokens) return;
    const renewalInMs = this.tokens.nextUnauthorizedRenewalAt() - this.clock.now();
    if (renewalInMs > 0 && this.tokens.pool.some((slot) => slot.usableToken())) {
      throw new GenesysAuthError(
        'rejected_by_api',
        `Genesys API request not sent: the API refuses this client's freshly renewed tokens (401); the next renewal is allowed in ${Math.ceil(renewalInMs)} ms`,
      );
    }
  }

  private shutdown(because: string): GenesysAuthError {
    return new GenesysAuthError('shutdown', `Genesys API request not sent: ${because}`);
  }

  private throttled(why: string): GenesysAuthError {
    return new GenesysAuthError('throttled', `Genesys API request not sent: ${why}`);
  }
}

/** One request's claim on one token's budget, from the gate and the token's window at once: one object per request. */
class TokenLease implements GateLease, BudgetLease {
  settled = false;
  readonly accessToken: string;

  constructor(
    private readonly record: TokenRecord,
    private readonly budget: SlidingWindowBudget,
    readonly takenAt: number,
    /** Whether the request is the token's probe after a cool-down. */
    private readonly probe: boolean,
    private readonly clock: Clock,
    private readonly onSettled: (counted: boolean) => void,
  ) {
    this.accessToken = record.accessToken;
  }

  release(status?: number | typeof NOT_SENT): void {
    if (this.settled) return;
    const counted = countedByApi(status);
    this.budget.settle(this, this.clock.now(), counted);
    // An unsent probe says nothing of the limit: the token stays on trial, and the next request is its probe.
    if (status !== NOT_SENT) this.record.answered(this.probe, status);
    else if (this.probe) this.record.answered(this.probe, 429);
    this.onSettled(counted);
  }
}

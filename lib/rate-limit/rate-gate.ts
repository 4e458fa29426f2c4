import type { Subscription } from 'rxjs';
import { onAbort } from '../abort-listener.js';
import type { Clock } from '../clock.js';
import { GenesysAuthError } from '../errors.js';
import type { GenesysRateLimitOptions } from '../interfaces/genesys-auth-options.interface.js';
import type { GenesysTokenService } from '../genesys-token.service.js';
import { StoreUnavailable, type ClientStoreKeys, type StoreGuard } from '../store/store-guard.js';
import { SlidingWindowBudget, type BudgetLease } from './sliding-window-budget.js';

/** How often a caller waiting on a shared budget asks the store again, unless a cool-down says how long. */
const SHARED_POLL_MS = 100;

/**
 * A probe unanswered this long no longer holds the others back: a request that fails before it is sent
 * (a body axios cannot serialise) never reports back. At worst a slow probe gets company every 5 s.
 */
const LOST_PROBE_AFTER_MS = 5_000;

/** A token with budget for one request; release it when the request's answer (or failure) arrives. */
export interface GateLease {
  readonly accessToken: string;
  /**
   * Idempotent. Until released, the request counts as in flight against its token's budget. `status`
   * is the API's answer, if one came: a 401 or a 429 gives the budget back (see {@link countedByApi}),
   * and a 429 keeps the token on trial after its cool-down.
   */
  release(status?: number): void;
}

/**
 * Whether the API counted a request against its token's budget: not when it could not authenticate it
 * (401), nor when it refused it for a limit (429), whose `Retry-After` cool-down is the server's own word
 * on when to go on. Counting refused requests let a burst of 429s use up the budget and starve every
 * route for a window after the limit had ended.
 */
function countedByApi(status: number | undefined): boolean {
  return status !== 401 && status !== 429;
}

interface Waiter {
  readonly resolve: (lease: GateLease) => void;
  readonly reject: (error: GenesysAuthError) => void;
  readonly since: number;
  readonly timer: NodeJS.Timeout;
  /** Removes the waiter's abort listener, if it has one. */
  stopListening?: () => void;
  settled: boolean;
}

/**
 * What the gate knows of one token: its budget, and whether it is on trial after a 429. A new token
 * (after a refresh or a 401) starts afresh, as Genesys counts per token.
 */
interface SlotBudget {
  readonly accessToken: string;
  readonly budget: SlidingWindowBudget;
  /**
   * The API answered 429 on this token: once its cool-down ends, one request goes first (the probe),
   * and the others wait for its answer, so that the end of a cool-down does not release a herd into
   * a limit that may still hold.
   */
  onTrial: boolean;
  /** Until when the probe is out (epoch ms; 0 when none is): until its answer, or until it counts as lost. */
  probeUntil: number;
}

/**
 * Paces one client's API requests to its per-token budgets: picks the token of the pool with the
 * most budget left, and when none has any (or all are cooling down after a 429), makes callers wait
 * in FIFO order, each at most `maxWaitMs`, at most `maxQueued` of them.
 */
export class RateGate {
  private readonly budgets: (SlotBudget | undefined)[] = [];
  private readonly waiters: Waiter[] = [];
  private head = 0;
  /** Callers in the local line; callers waiting on the shared store are counted apart (they poll, they are not in the line). */
  private queued = 0;
  private sharedWaiting = 0;
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = Number.POSITIVE_INFINITY;
  private readonly subscription: Subscription;
  private stopped = false;
  /** Callers pausing between shared-budget attempts; woken at close. */
  private readonly pauses = new Set<() => void>();

  constructor(
    private readonly limits: Required<GenesysRateLimitOptions>,
    private readonly tokens: GenesysTokenService,
    private readonly clock: Clock,
    /** Longest a request may hold budget without its answer being seen (its deadline); then it counts as answered. */
    private readonly leaseTimeoutMs: number,
    /** A store shared with other replicas: budgets are counted there, for the cluster, while it answers. */
    private readonly shared?: { readonly guard: StoreGuard; readonly keys: ClientStoreKeys },
  ) {
    this.subscription = tokens.events$.subscribe((event) => {
      if (event.type === 'refreshed') this.drain();
    });
  }

  /** Takes budget on the best token at once, without waiting; `undefined` when the caller must wait (or others already do). */
  tryTake(): GateLease | undefined {
    if (this.shared?.guard.wouldUse(this.clock.now())) return undefined; // a shared budget is only known to the store
    return this.queued === 0 ? this.take(this.clock.now()) : undefined;
  }

  /** Whether budgets are counted in the shared store now (it is configured and answering, or due for a probe, which this takes). */
  private get sharing(): boolean {
    return this.shared !== undefined && this.shared.guard.useNow(this.clock.now());
  }

  /**
   * A token with budget for one request, waiting in line for one if needed, until `deadline` (epoch ms)
   * or until `signal` aborts (the waiter then leaves the line without using budget).
   * @throws GenesysAuthError `throttled` when the deadline passes or the line is full; the token
   * service's error when no token can be had at all.
   */
  async acquire(deadline: number, signal?: AbortSignal): Promise<GateLease> {
    if (this.sharing) {
      const lease = await this.acquireShared(deadline, signal);
      if (lease) return lease;
    }
    const taken = this.tryTake();
    if (taken) return taken;
    this.assertNotRefused();
    if (this.tokens.pool.every((slot) => !slot.usableToken())) {
      await this.tokens.getToken(); // nothing to wait for yet: fetch the first token (shared with other callers)
      return this.acquire(deadline, signal);
    }
    const now = this.clock.now();
    this.assertRoomInLine();
    if (deadline <= now) throw this.throttled(`no rate budget left and rateLimit.maxWaitMs (${this.limits.maxWaitMs} ms) used up`);
    return new Promise<GateLease>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        since: now,
        settled: false,
        timer: this.clock.setTimeout(() => this.expire(waiter), deadline - now),
      };
      if (signal) waiter.stopListening = onAbort(signal, () => this.settle(waiter, this.throttled('the caller aborted the request while it waited')));
      this.waiters.push(waiter);
      this.queued++;
      this.tokens.fillPool(); // another token of the pool brings another budget
      this.scheduleWake(now);
    });
  }

  /**
   * Budget from the shared store, for the cluster: tries each held token in turn, and when none has
   * budget, waits as the store says (polling while answers are in flight), up to `deadline`. Resolves `undefined` when the store stopped answering: the caller
   * then counts locally.
   */
  private async acquireShared(deadline: number, signal?: AbortSignal): Promise<GateLease | undefined> {
    const { guard, keys } = this.shared!;
    this.assertRoomInLine();
    this.sharedWaiting++;
    try {
      for (;;) {
        if (this.stopped) throw new GenesysAuthError('shutdown', 'Genesys API request not sent: the application is shutting down');
        if (signal?.aborted) throw this.throttled('the caller aborted the request while it waited');
        const now = this.clock.now();
        const candidates = this.tokens.pool.flatMap((slot, index) => {
          const token = slot.coolDownEndsAt <= now ? slot.usableToken() : undefined;
          const record = token && this.budgetOf(index, token.accessToken);
          return record && record.probeUntil <= now ? [record] : [];
        });
        if (candidates.length === 0 && this.tokens.pool.every((slot) => !slot.usableToken())) {
          await this.tokens.getToken();
          continue;
        }
        let waitMs = Number.POSITIVE_INFINITY;
        for (const record of candidates) {
          const key = keys.budget(record.accessToken);
          const claim = await guard.claimBudget(key, this.limits.requestsPerToken, this.limits.windowMs, this.leaseTimeoutMs, this.limits.maxCoolDownMs);
          if (claim.granted && record.probeUntil <= this.clock.now()) return this.sharedLease(record, key, claim.claimId);
          if (claim.granted) void guard.settleBudget(key, claim.claimId, false); // another caller's probe went first meanwhile
          // A cool-down read from the store is bounded like one of our own: another replica may be configured otherwise.
          else waitMs = Math.min(waitMs, claim.retryInMs, claim.coolingDown ? this.limits.maxCoolDownMs : SHARED_POLL_MS);
        }
        if (candidates.length === 0) waitMs = SHARED_POLL_MS; // every token cooling down or on trial: look again soon
        this.assertNotRefused(); // no budget now: waiting for it could only end in a 401
        this.tokens.fillPool(); // another token of the pool brings another budget
        const wakeAt = this.clock.now() + (Number.isFinite(waitMs) ? waitMs : SHARED_POLL_MS);
        if (wakeAt > deadline) {
          throw this.throttled(`waited for rate budget shared with other replicas (${this.limits.requestsPerToken} requests per ${this.limits.windowMs} ms per token) past rateLimit.maxWaitMs (${this.limits.maxWaitMs} ms)`);
        }
        await this.pause(wakeAt - this.clock.now(), signal);
      }
    } catch (error) {
      if (error instanceof StoreUnavailable) return undefined;
      throw error;
    } finally {
      this.sharedWaiting--;
    }
  }

  private sharedLease(record: SlotBudget, key: string, claimId: string): GateLease {
    let released = false;
    const probe = this.startProbe(record);
    return {
      accessToken: record.accessToken,
      release: (status) => {
        if (released) return;
        released = true;
        void this.shared!.guard.settleBudget(key, claimId, countedByApi(status));
        this.onAnswer(record, probe, status);
      },
    };
  }

  /** Whether a lease on `record` is its token's probe after a cool-down; if so, holds the others back until it is answered. */
  private startProbe(record: SlotBudget): boolean {
    if (!record.onTrial) return false;
    record.probeUntil = this.clock.now() + Math.min(this.leaseTimeoutMs, LOST_PROBE_AFTER_MS);
    return true;
  }

  /** A 429 puts the token on trial; any other answer to its probe ends the trial and lets the line move on. */
  private onAnswer(record: SlotBudget, probe: boolean, status?: number): void {
    if (status === 429) record.onTrial = true;
    else if (probe) record.onTrial = false;
    if (probe) record.probeUntil = 0;
  }

  /** Waits `ms`, or less when the caller aborts (the caller's signal is checked by the interceptor). */
  private pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.clock.clearTimeout(timer);
        this.pauses.delete(done);
        stopListening?.();
        resolve();
      };
      const timer = this.clock.setTimeout(done, ms);
      this.pauses.add(done);
      const stopListening = signal ? onAbort(signal, done) : undefined;
    });
  }

  /** Rejects every waiting caller with a `shutdown` error saying `because`, and stops. */
  close(because: string): void {
    this.stopped = true;
    this.subscription.unsubscribe();
    if (this.wakeTimer) this.clock.clearTimeout(this.wakeTimer);
    const shutdown = new GenesysAuthError('shutdown', `Genesys API request not sent: ${because}`);
    for (let index = this.head; index < this.waiters.length; index++) this.settle(this.waiters[index], shutdown);
    this.waiters.length = 0;
    this.head = 0;
    for (const wake of [...this.pauses]) wake();
  }

  /** Serves waiters in order while some token has budget; then sleeps until the next budget or cool-down frees up. */
  private drain(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    while (this.queued > 0) {
      const waiter = this.waiters[this.head];
      if (waiter.settled) {
        this.dequeue();
        continue;
      }
      const lease = this.take(now);
      if (!lease) break;
      this.dequeue();
      this.settle(waiter, lease);
    }
    if (this.queued > 0) {
      this.tokens.fillPool();
      this.scheduleWake(now);
    }
  }

  private take(now: number): GateLease | undefined {
    let best: SlotBudget | undefined;
    let bestRemaining = 0;
    this.tokens.pool.forEach((slot, index) => {
      const token = slot.usableToken();
      if (!token || slot.coolDownEndsAt > now) return;
      const record = this.budgetOf(index, token.accessToken);
      if (record.probeUntil > now) return;
      const remaining = record.budget.remaining(now);
      if (remaining > bestRemaining) {
        best = record;
        bestRemaining = remaining;
      }
    });
    return best && this.leaseOf(best, best.budget.take(now));
  }

  private leaseOf(record: SlotBudget, claim: BudgetLease): GateLease {
    const probe = this.startProbe(record);
    return {
      accessToken: record.accessToken,
      release: (status) => {
        if (claim.settled) return;
        record.budget.settle(claim, this.clock.now(), countedByApi(status));
        this.onAnswer(record, probe, status);
        if (this.queued > 0) this.drain();
      },
    };
  }

  private budgetOf(index: number, accessToken: string): SlotBudget {
    let record = this.budgets[index];
    if (record?.accessToken !== accessToken) {
      const budget = new SlidingWindowBudget(this.limits.requestsPerToken, this.limits.windowMs, this.leaseTimeoutMs);
      record = { accessToken, budget, onTrial: false, probeUntil: 0 };
      this.budgets[index] = record;
    }
    return record;
  }

  /**
   * When a held token next has budget and is not cooling down; infinity when that waits on answers
   * in flight (a probe's included) or on a refresh (both wake us).
   */
  private nextFreeAt(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    this.tokens.pool.forEach((slot, index) => {
      const token = slot.usableToken();
      const record = token && this.budgetOf(index, token.accessToken);
      if (record) next = Math.min(next, record.probeUntil > now ? record.probeUntil : Math.max(slot.coolDownEndsAt, record.budget.nextFreeAt(now)));
    });
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

  private expire(waiter: Waiter): void {
    if (waiter.settled) return;
    const waitedMs = this.clock.now() - waiter.since;
    const cooling = this.tokens.getState().pool.coolingDown;
    const why = cooling > 0 ? `${cooling} of ${this.tokens.pool.length} tokens cooling down after a 429, the others out of budget` : 'every token out of budget';
    this.settle(
      waiter,
      this.throttled(
        `waited ${waitedMs} ms for rate budget (${why}: ${this.limits.requestsPerToken} requests per ${this.limits.windowMs} ms per token), the limit set by rateLimit.maxWaitMs`,
      ),
    );
  }

  private settle(waiter: Waiter, outcome: GateLease | GenesysAuthError): void {
    if (waiter.settled) return;
    waiter.settled = true;
    this.queued--;
    this.clock.clearTimeout(waiter.timer);
    waiter.stopListening?.();
    if (outcome instanceof GenesysAuthError) waiter.reject(outcome);
    else waiter.resolve(outcome);
  }

  private dequeue(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Fails fast once `maxQueued` callers wait, in the local line or on the shared store. */
  private assertRoomInLine(): void {
    if (this.queued + this.sharedWaiting >= this.limits.maxQueued) {
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

  private throttled(why: string): GenesysAuthError {
    return new GenesysAuthError('throttled', `Genesys API request not sent: ${why}`);
  }
}

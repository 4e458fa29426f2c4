import { SlidingWindowBudget } from '../rate-limit/sliding-window-budget.js';

/** How the rate gate counts a token's budget. */
export interface BudgetRule {
  /** Requests per window on one token. */
  readonly requestsPerToken: number;
  readonly windowMs: number;
  /** Longest a request may hold budget without its answer being seen; then it counts as answered. */
  readonly leaseTimeoutMs: number;
}

/**
 * A probe unanswered this long no longer holds the others back: a request that fails before it is sent
 * (a body axios cannot serialise) never reports back. At worst a slow probe gets company every 5 s.
 */
const LOST_PROBE_AFTER_MS = 5_000;

/**
 * Everything the client knows of one token it took, in one place: its rate budget, its cool-down
 * after a 429 and the trial that follows, and the 401 renewals of its slot. The slot creates one for
 * each token it takes, so a new token starts afresh (Genesys counts each token on its own); only the
 * time of the last 401 renewal carries over, as renewals are bounded across tokens. The slot keeps the
 * record of a token it dropped until it takes the next.
 */
export class TokenRecord {
  private budget?: SlidingWindowBudget;
  /** The API answered 429 on this token: it is not used before this instant (epoch ms). */
  private coolingUntil = 0;
  /**
   * The API answered 429 on this token: once its cool-down ends, one request goes first (the probe),
   * and the others wait for its answer, so that the end of a cool-down does not release a herd into
   * a limit that may still hold.
   */
  private onTrial = false;
  /** Until when the probe is out (epoch ms; 0 when none is): until its answer, or until it counts as lost. */
  private probeUntil = 0;
  /** When a 401 last made the slot renew: the renewal that brought this token, or an earlier one. */
  private lastRenewalAfterUnauthorized: number;

  constructor(
    readonly accessToken: string,
    /** The record of the token this one replaces in its slot, if any. */
    previous?: TokenRecord,
  ) {
    this.lastRenewalAfterUnauthorized = previous?.lastRenewalAfterUnauthorized ?? Number.NEGATIVE_INFINITY;
  }

  /** When a 401 last made the slot renew its token; `-Infinity` if never. */
  get lastUnauthorizedRenewalAt(): number {
    return this.lastRenewalAfterUnauthorized;
  }

  /** The API refused this token with 401 and its slot renews it now (renewals after 401s are bounded). */
  renewedAfterUnauthorized(now: number): void {
    this.lastRenewalAfterUnauthorized = now;
  }

  /** Keeps the token out of use until `until` (epoch ms), after a 429. */
  coolDown(until: number): void {
    this.coolingUntil = Math.max(this.coolingUntil, until);
  }

  /** When the token's cool-down ends; in the past when it is not cooling down. */
  get coolDownEndsAt(): number {
    return this.coolingUntil;
  }

  /** Whether a request may go out on this token at `now` as far as 429s go: not cooling down, and no probe out. */
  open(now: number): boolean {
    return this.coolingUntil <= now && this.probeUntil <= now;
  }

  /** The token's rate budget, counted under `rule` (the gate's; created on first use). */
  budgetUnder(rule: BudgetRule): SlidingWindowBudget {
    this.budget ??= new SlidingWindowBudget(rule.requestsPerToken, rule.windowMs, rule.leaseTimeoutMs);
    return this.budget;
  }

  /** When the token may next take a request: the end of its probe, or of its cool-down and of its lack of budget. */
  nextFreeAt(now: number, rule: BudgetRule): number {
    if (this.probeUntil > now) return this.probeUntil;
    return Math.max(this.coolingUntil, this.budgetUnder(rule).nextFreeAt(now));
  }

  /**
   * Whether a request going out now is the token's probe after a cool-down; if so, the others wait for
   * its answer, or for at most `leaseTimeoutMs` (and 5 s).
   */
  startProbe(now: number, leaseTimeoutMs: number): boolean {
    if (!this.onTrial) return false;
    this.probeUntil = now + Math.min(leaseTimeoutMs, LOST_PROBE_AFTER_MS);
    return true;
  }

  /** The API answered `status` (if it answered): a 429 puts the token on trial; any other answer to its probe ends the trial. */
  answered(probe: boolean, status?: number): void {
    if (status === 429) this.onTrial = true;
    else if (probe) this.onTrial = false;
    if (probe) this.probeUntil = 0;
  }
}

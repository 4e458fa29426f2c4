/** A token as a store keeps it: plain data, times in epoch milliseconds. */
export interface StoredToken {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly obtainedAt: number;
  readonly expiresAt: number;
  readonly scope?: string;
}

/** The answer to a budget claim: granted (settle it with `claimId` once the answer arrives), or when to try again. */
export type BudgetClaim = (
  | {
      readonly granted: true;
      readonly claimId: string;
      /**
       * Requests left in the window after this one, if the store knows: a replica sends that many
       * claims at once before its callers queue for the store. Without it, one at a time.
       */
      readonly remaining?: number;
    }
  | {
      readonly granted: false;
      /** When budget frees up at the latest (an answer in flight may free it sooner). */
      readonly retryInMs: number;
      /** The token is cooling down after a 429: nothing frees before `retryInMs`. */
      readonly coolingDown?: boolean;
    }
) & {
  /**
   * How many replicas (stores) claimed budget on this key lately (Redis: within a minute or the window), this one included. While
   * the store cannot be reached, a replica counts on its share of the budget rather than on all of it.
   */
  readonly replicas?: number;
};

/**
 * Where the tokens of a client live, and the counters of their rate budgets, so that several
 * replicas of an app can share them: one token request per cluster instead of one per replica, and a
 * budget counted for the cluster as a whole. Keys are built by the library: a client's token and lock
 * keys carry an HMAC keyed by its secret (never the secret), so only the right secret finds its token.
 * Tokens read back are checked like a token-endpoint answer; an unusable one counts as no token.
 *
 * Every method may fail or be slow: the library bounds each call and falls back to its own memory,
 * so a store never fails a caller. Without a store (the default), tokens and budgets stay in memory.
 */
export interface GenesysTokenStore {
  /** The token stored under `key`, if any. */
  getToken(key: string): Promise<StoredToken | undefined>;
  /** Stores `token` under `key` until it expires. */
  setToken(key: string, token: StoredToken): Promise<void>;
  /**
   * Takes the refresh lock of `key` for `ttlMs` if no one else holds it; `true` when `owner` now holds
   * it. Taken again by its owner, the lock is held `ttlMs` from then: a replica renews it through the
   * retries of a slow refresh. (A store that answers its owner `false` keeps the lock for its first
   * `ttlMs` only: other replicas may then fetch tokens of their own meanwhile.)
   */
  acquireLock(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock of `key` if `owner` still holds it (compare-and-delete). */
  releaseLock(key: string, owner: string): Promise<void>;
  /**
   * Claims budget for one request on the token counted under `key`: at most `limit` requests in any
   * `windowMs`, each counting from its claim until `windowMs` after it is settled (unsettled claims
   * lapse after `leaseTtlMs`), and none while the key cools down.
   *
   * @param maxCoolDownMs - The caller's ceiling on cool-downs (`rateLimit.maxCoolDownMs`): a cool-down
   * of the key lasting longer from now (written by a replica configured otherwise) is shortened to it.
   */
  claimBudget(key: string, limit: number, windowMs: number, leaseTtlMs: number, maxCoolDownMs?: number): Promise<BudgetClaim>;
  /**
   * The answer to the request of `claimId` arrived: from now on it counts for `windowMs` more.
   *
   * @param counted - `false` when the API did not count the request against the token's budget (it
   * answered 401, or 429, whose `Retry-After` cool-down says when to go on): the claim is removed at once. A store that
   * ignores the flag stays correct, only more cautious.
   */
  settleBudget(key: string, claimId: string, counted?: boolean): Promise<void>;
  /** Keeps the token counted under `key` out of use for `durationMs` (after a 429), for every replica. */
  coolDown(key: string, durationMs: number): Promise<void>;
  /** Releases the store's own connections; called once the last client using the store has closed. */
  close?(): Promise<void>;
}

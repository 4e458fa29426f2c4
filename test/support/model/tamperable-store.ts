import type { GenesysTokenStore, StoredToken } from 'nestjs-genesys-auth';

/** Values a compromised or buggy writer could leave in a shared store, each unusable in its own way. */
export const TAMPERINGS = {
  /** A token with a line break: sent as it is, it would inject a header (axios refuses such a header). */
  'header-injection': (now: number) => ({ accessToken: 'forged\r\nX-Injected: 1', tokenType: 'bearer', obtainedAt: now, expiresAt: now + 60_000 }),
  /** Not a string at all. */
  'not-a-string': (now: number) => ({ accessToken: { forged: true }, tokenType: 'bearer', obtainedAt: now, expiresAt: now + 60_000 }),
  /** A token no one issued, said to be valid for ten years. */
  'far-future': (now: number) => ({ accessToken: 'forged-token', tokenType: 'bearer', obtainedAt: now, expiresAt: now + 10 * 365 * 86_400_000 }),
  /** Times that make no sense: obtained in an hour, expired before that. */
  'inverted-times': (now: number) => ({ accessToken: 'forged-token', tokenType: 'bearer', obtainedAt: now + 3_600_000, expiresAt: now + 60_000 }),
} as const;

export type Tampering = keyof typeof TAMPERINGS;

/** How a store fails during an outage: it refuses every call at once (a Redis that is down), or never answers (a half-open connection). */
export type StoreOutageKind = 'refuse' | 'hang';

/** An outage of the store, from `from` until `until` (epoch ms). */
export interface StoreOutage {
  readonly kind: StoreOutageKind;
  readonly from: number;
  readonly until: number;
}

/**
 * A token store (memory or Redis) whose token values the test can corrupt, and which can fail for a
 * while: after {@link tamper}, every token read answers the forged value, for each key until the
 * library writes it again; during an {@link fail outage}, every call but `close` fails as the outage
 * says. The keys are whatever the library uses (they are never built here), so it works whatever the key scheme.
 */
export class TamperableStore implements GenesysTokenStore {
  private forged?: unknown;
  /** Keys the library wrote since the last tampering: they read as written. */
  private readonly rewritten = new Set<string>();
  /** Every outage so far, in the order they started; the latest one in force decides. */
  readonly outages: StoreOutage[] = [];

  constructor(private readonly inner: GenesysTokenStore) {}

  /** From now on, every token read answers `tampering`'s value until the library writes that key. */
  tamper(tampering: Tampering): void {
    this.forged = TAMPERINGS[tampering](Date.now());
    this.rewritten.clear();
  }

  /** For the next `ms`, every call fails as `kind` says; then the store answers again, as it was. */
  fail(kind: StoreOutageKind, ms: number): void {
    const from = Date.now();
    this.outages.push({ kind, from, until: from + ms });
  }

  getToken(key: string): Promise<StoredToken | undefined> {
    return this.answering(async () => (this.forged !== undefined && !this.rewritten.has(key) ? (this.forged as StoredToken) : this.inner.getToken(key)));
  }

  setToken(key: string, token: StoredToken): Promise<void> {
    return this.answering(async () => {
      this.rewritten.add(key);
      await this.inner.setToken(key, token);
    });
  }

  acquireLock(...args: Parameters<GenesysTokenStore['acquireLock']>): ReturnType<GenesysTokenStore['acquireLock']> {
    return this.answering(() => this.inner.acquireLock(...args));
  }

  releaseLock(...args: Parameters<GenesysTokenStore['releaseLock']>): ReturnType<GenesysTokenStore['releaseLock']> {
    return this.answering(() => this.inner.releaseLock(...args));
  }

  claimBudget(...args: Parameters<GenesysTokenStore['claimBudget']>): ReturnType<GenesysTokenStore['claimBudget']> {
    return this.answering(() => this.inner.claimBudget(...args));
  }

  settleBudget(...args: Parameters<GenesysTokenStore['settleBudget']>): ReturnType<GenesysTokenStore['settleBudget']> {
    return this.answering(() => this.inner.settleBudget(...args));
  }

  coolDown(...args: Parameters<GenesysTokenStore['coolDown']>): ReturnType<GenesysTokenStore['coolDown']> {
    return this.answering(() => this.inner.coolDown(...args));
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  /** `call`, unless an outage is in force. */
  private answering<T>(call: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const outage = this.outages.filter((each) => each.from <= now && now < each.until).at(-1);
    if (outage?.kind === 'refuse') return Promise.reject(new Error('connect ECONNREFUSED (the store is down)'));
    if (outage?.kind === 'hang') return new Promise<T>(() => undefined); // no answer, ever: the library's own bound must end the wait
    return call();
  }
}

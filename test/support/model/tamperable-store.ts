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

/**
 * A token store (memory or Redis) whose token values the test can corrupt: after {@link tamper},
 * every token read answers the forged value, for each key until the library writes it again. The
 * keys are whatever the library uses (they are never built here), so it works whatever the key scheme.
 */
export class TamperableStore implements GenesysTokenStore {
  private forged?: unknown;
  /** Keys the library wrote since the last tampering: they read as written. */
  private readonly rewritten = new Set<string>();

  constructor(private readonly inner: GenesysTokenStore) {}

  /** From now on, every token read answers `tampering`'s value until the library writes that key. */
  tamper(tampering: Tampering): void {
    this.forged = TAMPERINGS[tampering](Date.now());
    this.rewritten.clear();
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    return this.forged !== undefined && !this.rewritten.has(key) ? (this.forged as StoredToken) : this.inner.getToken(key);
  }

  async setToken(key: string, token: StoredToken): Promise<void> {
    this.rewritten.add(key);
    await this.inner.setToken(key, token);
  }

  acquireLock(...args: Parameters<GenesysTokenStore['acquireLock']>): ReturnType<GenesysTokenStore['acquireLock']> {
    return this.inner.acquireLock(...args);
  }

  releaseLock(...args: Parameters<GenesysTokenStore['releaseLock']>): ReturnType<GenesysTokenStore['releaseLock']> {
    return this.inner.releaseLock(...args);
  }

  claimBudget(...args: Parameters<GenesysTokenStore['claimBudget']>): ReturnType<GenesysTokenStore['claimBudget']> {
    return this.inner.claimBudget(...args);
  }

  settleBudget(...args: Parameters<GenesysTokenStore['settleBudget']>): ReturnType<GenesysTokenStore['settleBudget']> {
    return this.inner.settleBudget(...args);
  }

  coolDown(...args: Parameters<GenesysTokenStore['coolDown']>): ReturnType<GenesysTokenStore['coolDown']> {
    return this.inner.coolDown(...args);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

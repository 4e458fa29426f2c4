import { GenesysAuthError } from 'nestjs-genesys-auth';
import type { GrantedToken } from '../../lib/token/token-client.js';

/** One scripted answer of the token endpoint: a token, or an error to throw (the real client throws only GenesysAuthErrors). */
export type ScriptedAnswer = GrantedToken | Error;

/**
 * Stands in for GenesysTokenClient in unit tests that drive time with fake timers: answers from a
 * script (then with fresh tokens) and records when it was asked.
 */
export class ScriptedTokenClient {
  readonly calledAt: number[] = [];
  closed = false;
  private issued = 0;

  constructor(
    private readonly script: ScriptedAnswer[] = [],
    private readonly defaultLifetimeMs = 3_600_000,
  ) {}

  get calls(): number {
    return this.calledAt.length;
  }

  async requestToken(): Promise<GrantedToken> {
    this.calledAt.push(Date.now());
    const answer = this.script.shift() ?? this.token(this.defaultLifetimeMs);
    if (answer instanceof Error) throw answer;
    return answer;
  }

  /** Adds answers to the end of the script. */
  enqueue(...answers: ScriptedAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  token(lifetimeMs: number): GrantedToken {
    return { accessToken: `token-${++this.issued}`, tokenType: 'bearer', lifetimeMs };
  }

  close(): void {
    this.closed = true;
  }
}

/** A retryable outage, as the real client reports a 503. */
export const outage = (): GenesysAuthError => new GenesysAuthError('unavailable', 'HTTP 503', { status: 503 });

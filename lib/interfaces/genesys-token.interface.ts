import type { GenesysAuthError } from '../errors.js';

/** An access token from the Genesys Cloud token endpoint. */
export interface GenesysToken {
  /** The bearer token. Treat it as a secret: never log it. */
  readonly accessToken: string;
  /** Token type as Genesys reports it; always `bearer` for this grant. */
  readonly tokenType: string;
  /** When the token was received. */
  readonly obtainedAt: Date;
  /** When Genesys will stop accepting the token. */
  readonly expiresAt: Date;
  /** Scopes granted, when Genesys reports them. */
  readonly scope?: string;
}

/**
 * Where the token service stands:
 * `no_token` (none yet, or the last one expired), `valid`, `refreshing` (a token request is in flight),
 * `failing` (the last refresh failed; see `lastError`), `rejected_by_api` (the API answered 401 to a
 * token just renewed after a 401; see `consecutiveApiRejections`), `stopped` (the application shut down).
 */
export type GenesysTokenStatus = 'no_token' | 'valid' | 'refreshing' | 'failing' | 'rejected_by_api' | 'stopped';

/** How the tokens of a pool stand. */
export interface GenesysTokenPoolState {
  /** Tokens the pool may hold (`tokenPool.size`). */
  readonly size: number;
  /** Tokens held (fetched and not dropped), valid or not. */
  readonly held: number;
  /** Tokens that may be handed out now. */
  readonly valid: number;
  /** Tokens kept out of use after the API answered 429, until their `Retry-After` has passed. */
  readonly coolingDown: number;
  /** Each token cooling down: its position in the pool and when its cool-down ends (at most `rateLimit.maxCoolDownMs` after the 429). */
  readonly coolDowns: readonly GenesysTokenCoolDown[];
}

/** One token of a pool kept out of use after a 429. */
export interface GenesysTokenCoolDown {
  /** Position of the token in the pool; `0` without a pool. */
  readonly slot: number;
  /** When the token may be used again. */
  readonly until: Date;
}

/** A snapshot of the token service for observers such as health checks. Holds no secret. */
export interface GenesysTokenState {
  readonly status: GenesysTokenStatus;
  /** Whether a token that may be handed out right now is held. */
  readonly hasValidToken: boolean;
  /** Expiry of the held token. */
  readonly expiresAt?: Date;
  /** When the last token was obtained. */
  readonly lastRefreshAt?: Date;
  /** When the next scheduled refresh or retry will run. */
  readonly nextRefreshAt?: Date;
  /** Refreshes failed in a row since the last success. */
  readonly consecutiveFailures: number;
  /** Fresh tokens the API refused with 401 in a row, since it last accepted one. */
  readonly consecutiveApiRejections: number;
  /** The token pool (`tokenPool.size`); the other fields describe its first token. */
  readonly pool: GenesysTokenPoolState;
  /** The last failure since the last success. */
  readonly lastError?: GenesysAuthError;
}

/** Emitted by `GenesysTokenService.events$` after every refresh attempt sequence, and when the API refuses a fresh token. */
export type GenesysTokenEvent =
  | {
      readonly type: 'refreshed';
      readonly at: Date;
      readonly expiresAt: Date;
      /** Which token of the pool (`tokenPool.size`) was refreshed; `0` without a pool. */
      readonly slot: number;
    }
  | {
      readonly type: 'refresh_failed';
      readonly at: Date;
      readonly error: GenesysAuthError;
      readonly consecutiveFailures: number;
      /** Which token of the pool failed to refresh; `0` without a pool. */
      readonly slot: number;
      /** When the service will try again on its own; absent when it won't (e.g. bad credentials). */
      readonly nextAttemptAt?: Date;
    }
  | {
      /** The API answered 401 to a token renewed after a 401 within the renewal interval (`unauthorizedRenewalIntervalMs`, doubling); no new token was fetched. */
      readonly type: 'rejected_by_api';
      readonly at: Date;
      readonly consecutiveApiRejections: number;
    };

import type { GenesysTokenService } from '../token/genesys-token.service.js';
import type { ClientTelemetry } from '../telemetry.js';
import type { RequestState } from './request-state.js';

/**
 * After the API refused a request's token: whether to replay it on a renewed token. Each refused token
 * may be renewed and the request replayed on the next (a pool's other token may be revoked too, or a
 * refresh may have replaced the one it was signed with); past that, the 401 still tells the token service.
 */
export class UnauthorizedReplay {
  constructor(
    private readonly tokens: GenesysTokenService,
    /** Tokens in the pool: a request meets at most this many refused, plus one replaced by a refresh. */
    private readonly poolSize: number,
    private readonly telemetry: ClientTelemetry,
  ) {}

  /** Whether the request may be replayed after this 401; tells the token service either way. */
  wanted(state: RequestState): boolean {
    if (state.unauthorizedReplays < this.poolSize + 1) return true;
    this.tokens.invalidate(state.signedWith);
    return false;
  }

  /** Renews the refused token for the replay; the reason it is not replayed when the token service refuses to renew. */
  renew(state: RequestState): string | undefined {
    state.unauthorizedReplays++;
    if (!this.tokens.invalidate(state.signedWith)) {
      return 'not retried: the API refused a token renewed after a 401 within the renewal interval (see unauthorizedRenewalIntervalMs)';
    }
    this.telemetry.renewal();
    return undefined;
  }
}

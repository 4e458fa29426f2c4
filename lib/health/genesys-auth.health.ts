import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { GENESYS_AUTH_CLOCK, type Clock } from '../clock.js';
import { GENESYS_AUTH_CONFIG, type ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import { GenesysTokenService } from '../genesys-token.service.js';

/** Options of {@link GenesysAuthHealthIndicator.isHealthy}. */
export interface GenesysAuthHealthOptions {
  /**
   * Report `down` once this many refreshes in a row have failed, or the API has refused this many
   * fresh tokens in a row, even while the held token is still valid, so operators hear of a login
   * outage or a revoked client before callers do. Default `3`; `Infinity` keeps `up` for as long as
   * the token is valid.
   */
  readonly downAfterConsecutiveFailures?: number;
  /**
   * When no valid token is held, fetch one before answering. Default `false`: a health probe never
   * calls the login endpoint by itself, so probes cannot hammer it.
   */
  readonly fetchIfMissing?: boolean;
}

/**
 * Terminus health indicator for the Genesys Cloud token. Reads the token service's state; it holds
 * and reports no secret.
 *
 * @example
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.genesys.isHealthy('genesys')]); }
 */
@Injectable()
export class GenesysAuthHealthIndicator {
  /** The host tokens are requested from, as configured (not guessed from the region). */
  private readonly loginHost: string;

  constructor(
    private readonly tokens: GenesysTokenService,
    private readonly healthIndicatorService: HealthIndicatorService,
    @Inject(GENESYS_AUTH_CONFIG) private readonly config: ResolvedGenesysAuthConfig,
    @Inject(GENESYS_AUTH_CLOCK) private readonly clock: Clock,
  ) {
    this.loginHost = new URL(config.loginBaseUrl).host;
  }

  /**
   * `up` while a valid token is held (data: `loginHost`, `region`, `expiresInSeconds`, `expiresAt`, `lastRefreshAt`);
   * `down` when none is, when refreshes kept failing or when the API kept refusing fresh tokens
   * (data adds `consecutiveFailures`, `consecutiveApiRejections`, `lastError`).
   */
  async isHealthy(key = 'genesys', options: GenesysAuthHealthOptions = {}): Promise<HealthIndicatorResult> {
    const indicator = this.healthIndicatorService.check(key);
    if (options.fetchIfMissing && !this.tokens.getState().hasValidToken) {
      await this.tokens.getToken().catch(() => undefined); // the failure shows in the state below
    }
    const state = this.tokens.getState();
    const data = {
      loginHost: this.loginHost,
      // The region only says where tokens come from when loginBaseUrl does not point elsewhere (a proxy, the emulator).
      ...(this.loginHost === `login.${this.config.region}` ? { region: this.config.region } : {}),
      tokenStatus: state.status,
      ...(state.expiresAt && state.hasValidToken
        ? {
            expiresAt: state.expiresAt.toISOString(),
            expiresInSeconds: Math.max(0, Math.floor((state.expiresAt.getTime() - this.clock.now()) / 1000)),
          }
        : {}),
      ...(state.lastRefreshAt ? { lastRefreshAt: state.lastRefreshAt.toISOString() } : {}),
      ...(state.nextRefreshAt ? { nextRefreshAt: state.nextRefreshAt.toISOString() } : {}),
      consecutiveFailures: state.consecutiveFailures,
      ...(state.consecutiveApiRejections > 0 ? { consecutiveApiRejections: state.consecutiveApiRejections } : {}),
      ...(state.lastError
        ? { lastError: { code: state.lastError.code, status: state.lastError.status, message: state.lastError.message } }
        : {}),
    };
    const threshold = options.downAfterConsecutiveFailures ?? 3;
    const healthy = state.hasValidToken && state.consecutiveFailures < threshold && state.consecutiveApiRejections < threshold;
    return healthy ? indicator.up(data) : indicator.down(data);
  }
}

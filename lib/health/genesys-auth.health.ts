import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { GenesysClient } from '../client/genesys-client.js';
import { settleWithin } from '../clock.js';
import { findRegistration, findRegistrations } from '../client/registrations.js';

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
   * When no valid token is held, fetch one before answering, waiting at most `tokenRequestTimeoutMs`
   * (the token service retries on its own meanwhile). Default `false`: a health probe never calls the
   * login endpoint by itself, so probes cannot hammer it.
   */
  readonly fetchIfMissing?: boolean;
  /** The named registration to check (`forRoot({ name })`); the unnamed one by default. */
  readonly name?: string;
  /** A client to check instead of a registration, e.g. one from `GenesysClientRegistry`. */
  readonly client?: GenesysClient;
}

/** Options of {@link GenesysAuthHealthIndicator.isHealthyAll}. */
export interface GenesysAuthHealthAllOptions extends Omit<GenesysAuthHealthOptions, 'name' | 'client'> {
  /** Key of the unnamed registration; named ones get `<keyPrefix>-<name>`. Default `genesys`. */
  readonly keyPrefix?: string;
}

/**
 * Terminus health indicator for Genesys Cloud tokens. Reads each client's token state; it holds and
 * reports no secret, and never calls the login endpoint unless `fetchIfMissing` asks it to. It finds
 * registrations anywhere in the application, so `GenesysAuthModule` need not be imported where it is.
 *
 * @example
 * @Get('health') @HealthCheck()
 * check() {
 *   return this.health.check([
 *     () => this.genesys.isHealthy('genesys'),                      // the unnamed registration
 *     () => this.genesys.isHealthy('genesys-emea', { name: 'emea' }), // a named one
 *   ]);                                                                // or: () => this.genesys.isHealthyAll()
 * }
 */
@Injectable()
export class GenesysAuthHealthIndicator {
  private readonly registrations = new Map<string | undefined, GenesysClient>();

  constructor(
    private readonly healthIndicatorService: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
  ) {}

  /**
   * `up` while a valid token is held (data: `loginHost`, `region`, `expiresInSeconds`, `expiresAt`, `lastRefreshAt`,
   * and `pool` — tokens held, valid, cooling down and until when — with a token pool or while a token cools down after a 429);
   * `down` when none is, when refreshes kept failing or when the API kept refusing fresh tokens
   * (data adds `consecutiveFailures`, `consecutiveApiRejections`, `lastError`), or when no such registration exists.
   */
  async isHealthy(key = 'genesys', options: GenesysAuthHealthOptions = {}): Promise<HealthIndicatorResult> {
    const indicator = this.healthIndicatorService.check(key);
    const client = options.client ?? this.registration(options.name);
    if (!client) {
      const which = options.name === undefined ? 'without a name' : `named "${options.name}"`;
      return indicator.down({ message: `no GenesysAuthModule registration ${which} in this application` });
    }
    const { tokens } = client;
    if (options.fetchIfMissing && !tokens.getState().hasValidToken) {
      // One token request's time at most, not the retries after it: a probe answers before its own timeout does.
      await settleWithin(tokens.getToken(), client.tokenRequestTimeoutMs, client.clock, 'no token yet').catch(() => undefined); // the state below says why
    }
    const state = tokens.getState();
    const { loginHost, region } = client.describe();
    const data = {
      loginHost,
      // The region only says where tokens come from when loginBaseUrl does not point elsewhere (a proxy, the emulator).
      ...(loginHost === `login.${region}` ? { region } : {}),
      tokenStatus: state.status,
      ...(state.expiresAt && state.hasValidToken
        ? {
            expiresAt: state.expiresAt.toISOString(),
            expiresInSeconds: Math.max(0, Math.floor((state.expiresAt.getTime() - client.clock.now()) / 1000)),
          }
        : {}),
      ...(state.lastRefreshAt ? { lastRefreshAt: state.lastRefreshAt.toISOString() } : {}),
      ...(state.nextRefreshAt ? { nextRefreshAt: state.nextRefreshAt.toISOString() } : {}),
      consecutiveFailures: state.consecutiveFailures,
      ...(state.consecutiveApiRejections > 0 ? { consecutiveApiRejections: state.consecutiveApiRejections } : {}),
      ...(state.pool.size > 1 || state.pool.coolingDown > 0
        ? { pool: { ...state.pool, coolDowns: state.pool.coolDowns.map(({ slot, until }) => ({ slot, until: until.toISOString() })) } }
        : {}),
      // A shared store that does not answer degrades, never fails: the client runs on its own tokens meanwhile.
      ...(client.tokenStore === 'none' ? {} : { tokenStore: client.tokenStore, ...(client.tokenStore === 'unavailable' ? { degraded: true } : {}) }),
      ...(state.lastError
        ? { lastError: { code: state.lastError.code, status: state.lastError.status, message: state.lastError.message } }
        : {}),
    };
    const threshold = options.downAfterConsecutiveFailures ?? 3;
    const healthy = state.hasValidToken && state.consecutiveFailures < threshold && state.consecutiveApiRejections < threshold;
    return healthy ? indicator.up(data) : indicator.down(data);
  }

  /** Checks every `forRoot` / `forRootAsync` registration in the application, one key each. */
  async isHealthyAll(options: GenesysAuthHealthAllOptions = {}): Promise<HealthIndicatorResult> {
    const { keyPrefix = 'genesys', ...rest } = options;
    const results = await Promise.all(
      findRegistrations(this.moduleRef).map(({ name }) =>
        this.isHealthy(name === undefined ? keyPrefix : `${keyPrefix}-${name}`, { ...rest, name }),
      ),
    );
    return Object.assign({}, ...results) as HealthIndicatorResult;
  }

  private registration(name: string | undefined): GenesysClient | undefined {
    let client = this.registrations.get(name);
    if (!client) {
      client = findRegistration(this.moduleRef, name);
      if (client) this.registrations.set(name, client);
    }
    return client;
  }
}

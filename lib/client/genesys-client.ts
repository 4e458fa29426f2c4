import type { SchedulerRegistry } from '@nestjs/schedule';
import type { Clock } from '../clock.js';
import { GenesysAuthInterceptor } from '../genesys-auth.interceptor.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import { GenesysHttpService } from '../genesys-http.service.js';
import { GenesysTokenService } from '../genesys-token.service.js';
import { GenesysTokenClient } from '../token-client.js';

/** What a client unit needs besides its configuration. */
export interface GenesysClientContext {
  readonly clock: Clock;
  readonly schedulerRegistry?: SchedulerRegistry;
}

/**
 * One Genesys Cloud OAuth client, complete: its token service, its signing interceptor and its
 * HTTP client. Nothing is shared between two clients but the code, so one client's token can never
 * sign another client's request. Every registration (`forRoot`, named ones, each registry entry)
 * is one of these, built by the same factory.
 */
export class GenesysClient {
  /** The client's token: cache, refresh, state and events. */
  readonly tokens: GenesysTokenService;
  /** The interceptor that signs this client's requests; attach it to an `HttpService` of your own with `attachTo`. */
  readonly interceptor: GenesysAuthInterceptor;
  /** An `HttpService` on this client's API origin, signed with this client's token. */
  readonly http: GenesysHttpService;
  /** @internal The clock its parts use. */
  readonly clock: Clock;
  private closed = false;

  /** @internal Built by the module or the registry. */
  constructor(
    /** The registration name (`undefined` for the unnamed one) or the registry key. */
    readonly name: string | undefined,
    /** @internal */
    readonly config: ResolvedGenesysAuthConfig,
    context: GenesysClientContext,
  ) {
    this.clock = context.clock;
    const logContext = name === undefined ? 'GenesysAuth' : `GenesysAuth:${name}`;
    this.tokens = new GenesysTokenService(config, new GenesysTokenClient(config, context.clock), context.clock, {
      logContext,
      schedulerRegistry: context.schedulerRegistry,
    });
    this.interceptor = new GenesysAuthInterceptor(config, this.tokens, context.clock);
    this.http = new GenesysHttpService(config, this.interceptor, context.clock);
  }

  /** Secret-free facts about this client, for logs and health output. */
  describe(): { name?: string; loginHost: string; apiHost: string; region: string } {
    return {
      ...(this.name === undefined ? {} : { name: this.name }),
      loginHost: new URL(this.config.loginBaseUrl).host,
      apiHost: new URL(this.config.apiBaseUrl).host,
      region: this.config.region,
    };
  }

  /** Fetches the first token when `fetchTokenOnStartup` is on (one bounded attempt; failures are logged and retried). */
  start(): Promise<void> {
    return this.tokens.start();
  }

  /** Stops timers, cancels token requests, drops the token and closes sockets at once. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tokens.close();
    this.interceptor.close();
    this.http.close();
  }

  /**
   * Closes once the requests in flight have finished, waiting at most as long as one token request
   * and one API call may take; used when the registry evicts a client that may still be serving callers.
   * A caller that got this client just before must still be able to start its request: closing waits
   * one turn of the event loop first.
   */
  async closeWhenIdle(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    await this.http.whenIdle(this.config.tokenRequestTimeoutMs + (this.config.apiRequestTimeoutMs || 30_000));
    this.close();
  }
}

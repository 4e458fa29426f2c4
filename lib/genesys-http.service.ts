import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { HttpService } from '@nestjs/axios';
import { GENESYS_AUTH_CLOCK, type Clock } from './clock.js';
import { GenesysAuthInterceptor } from './genesys-auth.interceptor.js';
import { GENESYS_AUTH_CONFIG, type ResolvedGenesysAuthConfig } from './genesys-auth.options.js';
import { asHttpServiceAxios, createOwnAxios, type OwnAxios } from './own-axios.js';

/**
 * An `HttpService` for the Genesys Cloud Platform API: `baseURL` is the region's API origin, every
 * request is signed with the current token, a 401 renews the token and retries once.
 *
 * @example
 * constructor(private readonly genesys: GenesysHttpService) {}
 * queues() { return this.genesys.axiosRef.get('/api/v2/routing/queues'); }
 */
@Injectable()
export class GenesysHttpService extends HttpService implements OnApplicationShutdown {
  private readonly ownAxios: OwnAxios;

  constructor(
    @Inject(GENESYS_AUTH_CONFIG) config: ResolvedGenesysAuthConfig,
    interceptor: GenesysAuthInterceptor,
    @Inject(GENESYS_AUTH_CLOCK) clock: Clock,
  ) {
    const ownAxios = createOwnAxios(
      { baseURL: config.apiBaseUrl, timeout: config.apiRequestTimeoutMs, headers: { Accept: 'application/json' } },
      clock,
    );
    super(asHttpServiceAxios(ownAxios.instance));
    this.ownAxios = ownAxios;
    interceptor.attachTo(this);
  }

  /** Releases kept-alive sockets. */
  onApplicationShutdown(): void {
    this.ownAxios.destroy();
  }
}

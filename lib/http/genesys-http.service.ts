import { HttpService } from '@nestjs/axios';
import type { Clock } from '../clock.js';
import { inspectAs } from '../errors.js';
import type { GenesysAuthInterceptor } from './genesys-auth.interceptor.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import { asHttpServiceAxios, createOwnAxios, type OwnAxios } from './own-axios.js';

/**
 * An `HttpService` for the Genesys Cloud Platform API of one client: `baseURL` is its API origin,
 * every request is signed with that client's current token, a 401 renews the token and retries once.
 * Inject it (`GenesysHttpService`, or `@InjectGenesysHttp(name)` for a named registration), or take
 * `client.http` from the registry.
 *
 * @example
 * constructor(private readonly genesys: GenesysHttpService) {}
 * queues() { return this.genesys.axiosRef.get<QueueListing>('/api/v2/routing/queues'); }
 */
export class GenesysHttpService extends HttpService {
  private readonly ownAxios: OwnAxios;

  /** @internal Created by the client unit. */
  constructor(config: ResolvedGenesysAuthConfig, interceptor: GenesysAuthInterceptor, clock: Clock) {
    const ownAxios = createOwnAxios(
      { baseURL: config.apiBaseUrl, timeout: config.apiRequestTimeoutMs, headers: { Accept: 'application/json' } },
      clock,
    );
    super(asHttpServiceAxios(ownAxios.instance));
    this.ownAxios = ownAxios;
    interceptor.attachToOwn(ownAxios);
    // Its kept-alive sockets still reference their last request, Authorization header included.
    inspectAs(this, () => ({ baseURL: config.apiBaseUrl }));
  }

  /** Releases kept-alive sockets; requests still in flight fail. */
  close(): void {
    this.ownAxios.destroy();
  }
}

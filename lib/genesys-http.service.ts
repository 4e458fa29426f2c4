import { HttpService } from '@nestjs/axios';
import type { InternalAxiosRequestConfig } from 'axios';
import type { Clock } from './clock.js';
import type { GenesysAuthInterceptor } from './genesys-auth.interceptor.js';
import type { ResolvedGenesysAuthConfig } from './genesys-auth.options.js';
import { asHttpServiceAxios, createOwnAxios, type OwnAxios } from './own-axios.js';

/**
 * Marks a request counted as in flight. A plain key: axios copies it (not symbols) into the config of
 * a replay after 401 or 429, so a replay is recognised and not counted twice.
 */
type CountedConfig = InternalAxiosRequestConfig & { genesysInFlight?: { counted: boolean } };

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
  private requestsInFlight = 0;
  private lastRequestAt = 0;
  private readonly idleWaiters = new Set<() => void>();

  /** @internal Created by the client unit. */
  constructor(config: ResolvedGenesysAuthConfig, interceptor: GenesysAuthInterceptor, private readonly clock: Clock) {
    const ownAxios = createOwnAxios(
      { baseURL: config.apiBaseUrl, timeout: config.apiRequestTimeoutMs, headers: { Accept: 'application/json' } },
      clock,
    );
    super(asHttpServiceAxios(ownAxios.instance));
    this.ownAxios = ownAxios;
    interceptor.attachTo(this);
    this.countRequestsInFlight();
  }

  /** When this client was last busy (now while a request is in flight), in epoch milliseconds; `0` before any request. */
  get lastActiveAt(): number {
    return this.requestsInFlight > 0 ? this.clock.now() : this.lastRequestAt;
  }

  /** Resolves once no request is in flight, or after `timeoutMs`, whichever comes first. */
  async whenIdle(timeoutMs: number): Promise<void> {
    if (this.requestsInFlight === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs).unref();
      this.idleWaiters.add(done);
    });
  }

  /** Releases kept-alive sockets; requests still in flight fail. */
  close(): void {
    this.ownAxios.destroy();
  }

  /**
   * Counts a request from its first interceptor to its last handler, so that a client closed for
   * idleness or eviction can wait for the requests it is serving (including those waiting for a token).
   * axios runs request interceptors in reverse order of registration and response ones in order:
   * registered last, these wrap everything else the library adds. A request is counted out only if it
   * was counted in: an interceptor of the app's, added later, may fail a request before it is.
   */
  private countRequestsInFlight(): void {
    const finished = (config: unknown) => {
      const marker = (config as CountedConfig | undefined)?.genesysInFlight;
      if (!marker?.counted) return;
      marker.counted = false;
      this.lastRequestAt = this.clock.now();
      if (--this.requestsInFlight === 0) for (const wake of [...this.idleWaiters]) wake();
    };
    this.axiosRef.interceptors.request.use((config: CountedConfig) => {
      if (config.genesysInFlight) return config; // a replay of a request counted already
      this.requestsInFlight++;
      config.genesysInFlight = { counted: true };
      return config;
    });
    this.axiosRef.interceptors.response.use(
      (response) => {
        finished(response.config);
        return response;
      },
      (error: unknown) => {
        finished((error as { config?: unknown } | undefined)?.config);
        throw error;
      },
    );
  }
}

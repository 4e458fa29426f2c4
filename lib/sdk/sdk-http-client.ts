import type { Agent } from 'node:https';
import type { AxiosInstance, AxiosRequestConfig, AxiosResponse, RawAxiosRequestHeaders } from 'axios';
import { sdk, type SdkHttpRequestOptions } from './platform-sdk.js';

/** The hooks `AbstractHttpClient.setPreHook` / `setPostHook` store (absent from the SDK's typings). */
interface SdkHooks {
  preHook?: (config: AxiosRequestConfig) => AxiosRequestConfig | void | Promise<AxiosRequestConfig | void>;
  postHook?: (response: AxiosResponse) => AxiosResponse | void | Promise<AxiosResponse | void>;
}

/**
 * The SDK's HTTP layer replaced by a client unit's axios instance: each request the SDK builds is sent
 * through `client.http.axiosRef`, so the unit's interceptor signs it with the managed token and applies
 * 401 renew-and-replay, rate-limit pacing, 429 cool-downs and replays, deadlines and error redaction.
 *
 * Failures are left as they are (redacted AxiosErrors, `GenesysAuthError`, `CanceledError`): the SDK's
 * `callApi` turns an answered error into its own shape (the body, or `{ status, headers, body, error, … }`
 * with extended responses), exactly as with its `DefaultHttpClient`.
 *
 * @internal Created by {@link GenesysPlatformClient}; a subclass of the SDK's `AbstractHttpClient`
 * because `ApiClient.setHttpClient` checks `instanceof`.
 */
export class GenesysSdkHttpClient extends sdk.AbstractHttpClient {
  /** Set once `setTimeout` is called: only then does the SDK's timeout replace the registration's `apiRequestTimeoutMs`. */
  private explicitTimeoutMs?: number;

  constructor(private readonly axios: AxiosInstance) {
    super();
  }

  /** A deadline for this SDK client's requests instead of the registration's `apiRequestTimeoutMs`. */
  override setTimeout(timeout: number): void {
    super.setTimeout(timeout);
    this.explicitTimeoutMs = timeout;
  }

  /** Hooks are read on each request: nothing to install. */
  override enableHooks(): void {}

  /** Sends the SDK's request through the unit's signed axios instance; resolves with the axios response. */
  override async request(options: SdkHttpRequestOptions): Promise<AxiosResponse> {
    const hooks = this as SdkHooks;
    let config: AxiosRequestConfig = {
      url: options.url,
      method: options.method,
      headers: { ...options.headers },
      ...(options.params ? { params: options.params } : {}),
      ...(options.data !== undefined ? { data: options.data } : {}),
      // The SDK's default 16 s is not passed: the registration's deadline applies unless setTimeout() was called.
      ...(this.explicitTimeoutMs !== undefined ? { timeout: this.explicitTimeoutMs } : {}),
      ...(this.httpsAgent ? { httpsAgent: this.httpsAgent as Agent } : {}),
    };
    if (hooks.preHook) config = (await hooks.preHook(config)) ?? config;
    // The interceptor leaves a request that already carries Authorization unsigned (it is "the caller's own"), and
    // the managed token is the only one these requests may carry: drop whatever the SDK (setAccessToken, a login) or a hook put there.
    config.headers = withoutAuthorization(config.headers as Record<string, unknown> | undefined);
    const response = await this.axios.request(config);
    return hooks.postHook ? ((await hooks.postHook(response)) ?? response) : response;
  }
}

function withoutAuthorization(headers: Record<string, unknown> | undefined): RawAxiosRequestHeaders {
  const kept: RawAxiosRequestHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (name.toLowerCase() !== 'authorization') kept[name] = value as RawAxiosRequestHeaders[string];
  return kept;
}

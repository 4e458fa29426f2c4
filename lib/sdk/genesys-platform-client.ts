import type { FactoryProvider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { GenesysClient } from '../client/genesys-client.js';
import { findRegistration } from '../client/registrations.js';
import { getGenesysClientToken, validRegistrationName } from '../client/tokens.js';
import { GenesysAuthError } from '../errors.js';
import { axiosOf } from '../http/own-axios.js';
import { createIsolatedApiClient } from './isolated-api-client.js';
import type { SdkApiClass, SdkApiClient } from './platform-sdk.js';
import { GenesysSdkHttpClient } from './sdk-http-client.js';
import { getGenesysPlatformClientToken } from './tokens.js';

/** One client unit's SDK `ApiClient` and the API class instances bound to it. */
interface Binding {
  readonly client: GenesysClient;
  readonly apiClient: SdkApiClient;
  /** Keyed by API class: `api(RoutingApi)` returns the same instance each time. */
  readonly apis: WeakMap<SdkApiClass<unknown>, unknown>;
}

/** One binding per client unit, however many `GenesysPlatformClient`s reach it (`for`, injection, several modules). */
const bindings = new WeakMap<GenesysClient, Binding>();
/** What `GenesysPlatformClient.for(client)` returns for each unit. */
const platformClients = new WeakMap<GenesysClient, GenesysPlatformClient>();

function bindingOf(client: GenesysClient): Binding {
  let binding = bindings.get(client);
  if (!binding) {
    const httpClient = new GenesysSdkHttpClient(axiosOf(client.http));
    binding = { client, apiClient: createIsolatedApiClient(client.apiBaseUrl, httpClient), apis: new WeakMap() };
    bindings.set(client, binding);
  }
  return binding;
}

/**
 * Genesys' official JavaScript SDK (`purecloud-platform-client-v2`) on one registration's managed
 * token. `api(ApiClass)` returns an instance of an SDK API class bound to an `ApiClient` of this
 * registration's own, never the SDK's `ApiClient.instance`; its requests go to the registration's API
 * origin through its `GenesysHttpService` (managed token, 401 renew-and-replay, rate-limit pacing, 429
 * cool-downs, deadlines, redaction). The SDK's login, token storage and `Authorization` header are not used.
 * Errors reach the caller in the SDK's shape (the error body, or `{ status, headers, body, error }` with
 * extended responses), with tokens redacted.
 *
 * Get one by injection (`GenesysSdkModule.forFeature()` or `GenesysPlatformClient.forRegistration()`, then
 * the class itself or `@InjectGenesysPlatformClient(name)`), or for any client unit with
 * {@link GenesysPlatformClient.for}.
 *
 * @example
 * import platformClient from 'purecloud-platform-client-v2';
 * import { GenesysPlatformClient } from 'nestjs-genesys-auth/sdk';
 *
 * @Injectable()
 * export class QueuesService {
 *   constructor(private readonly genesys: GenesysPlatformClient) {}
 *   list() {
 *     return this.genesys.api(platformClient.RoutingApi).getRoutingQueues({ pageSize: 100 });
 *   }
 * }
 */
export class GenesysPlatformClient {
  private binding?: Binding;

  private constructor(
    private readonly source: GenesysClient | (() => GenesysClient),
  ) {
    if (source instanceof GenesysClient) this.binding = bindingOf(source);
  }

  /**
   * The platform client of a client unit: `registry.get(key)`'s, `@InjectGenesysClient(name)`'s, or any
   * other. The same object for the same unit, so its `ApiClient` and API instances are made once.
   */
  static for(client: GenesysClient): GenesysPlatformClient {
    if (!(client instanceof GenesysClient)) throw new TypeError('GenesysPlatformClient.for() takes a GenesysClient unit');
    let platformClient = platformClients.get(client);
    if (!platformClient) {
      platformClient = new GenesysPlatformClient(client);
      platformClients.set(client, platformClient);
    }
    return platformClient;
  }

  /**
   * A provider of the platform client of the registration called `name` (the unnamed one without it),
   * under {@link getGenesysPlatformClientToken}`(name)`. Put it in a module's `providers` (and `exports`);
   * `GenesysSdkModule.forFeature({ name })` does that for you.
   *
   * The registration is injected when it is visible to that module (`isGlobal`, or imported); otherwise it
   * is looked up anywhere in the application on first use, as the health indicator does.
   */
  static forRegistration(name?: string): FactoryProvider<GenesysPlatformClient> {
    const checked = validRegistrationName(name);
    return {
      provide: getGenesysPlatformClientToken(checked),
      useFactory: (client: GenesysClient | undefined, moduleRef: ModuleRef) =>
        client ? GenesysPlatformClient.for(client) : new GenesysPlatformClient(() => registrationIn(moduleRef, checked)),
      inject: [{ token: getGenesysClientToken(checked), optional: true }, ModuleRef],
    };
  }

  /** The client unit whose token, HTTP client and API origin the SDK calls use. */
  get client(): GenesysClient {
    return this.bound().client;
  }

  /**
   * The SDK `ApiClient` behind {@link api}, for SDK settings such as `setReturnExtendedResponses(true)`
   * or `setGenesysAppHeader(…)`. It is shared by every user of this registration's platform client, so a
   * setting applies to all of them. Its base path and HTTP client belong to the registration: do not
   * change them, and do not log in with it (an `Authorization` it adds is dropped; the managed token signs).
   */
  get apiClient(): SdkApiClient {
    return this.bound().apiClient;
  }

  /**
   * An instance of the SDK API class `ApiClass` bound to this registration, created on first use and
   * reused after.
   *
   * @example
   * const me = await genesys.api(platformClient.UsersApi).getUsersMe();
   */
  api<T>(ApiClass: SdkApiClass<T>): T {
    if (typeof ApiClass !== 'function') throw new TypeError('GenesysPlatformClient.api() takes an SDK API class, e.g. platformClient.RoutingApi');
    const { apiClient, apis } = this.bound();
    let api = apis.get(ApiClass) as T | undefined;
    if (api === undefined) {
      api = new ApiClass(apiClient);
      apis.set(ApiClass, api);
    }
    return api;
  }

  private bound(): Binding {
    if (!this.binding) {
      const source = this.source as () => GenesysClient;
      this.binding = GenesysPlatformClient.for(source()).bound();
    }
    return this.binding;
  }
}

function registrationIn(moduleRef: ModuleRef, name: string | undefined): GenesysClient {
  const client = findRegistration(moduleRef, name);
  if (client) return client;
  const which = name === undefined ? 'without a name' : `named "${name}"`;
  throw new GenesysAuthError('invalid_options', `GenesysPlatformClient: no GenesysAuthModule registration ${which} in this application`);
}

/*
 * The only import of `purecloud-platform-client-v2` in the library. It is an optional peer: only
 * `nestjs-genesys-auth/sdk` loads it, so apps that never import that subpath never load its 4 MB.
 * The package has no `exports` map: Node's `require` and `import` both load its CommonJS build
 * (`main`), so CommonJS and ES module apps share one copy with this library.
 */
import platformClient from 'purecloud-platform-client-v2';
// The types come through a namespace import: the published declarations then need no default-import interop
// (`esModuleInterop`) from an app on node10 / CommonJS, which the SDK's typings (named exports only) would.
import type * as PlatformSdk from 'purecloud-platform-client-v2';

/** The SDK's module object (`platformClient` in Genesys' examples). */
export const sdk: typeof PlatformSdk = platformClient;

/** An instance of the SDK's `ApiClient` class (its typings name the class `ApiClientClass`). */
export type SdkApiClient = InstanceType<typeof PlatformSdk.ApiClientClass>;

/** What the SDK's `ApiClient.callApi` hands its HTTP client: URL, method, headers, query, body. */
export type SdkHttpRequestOptions = InstanceType<typeof PlatformSdk.HttpRequestOptions>;

/**
 * An SDK API class such as `platformClient.RoutingApi`: constructed with the `ApiClient` its calls go through.
 *
 * @typeParam T - the API class's instance type, e.g. `RoutingApi`
 */
export type SdkApiClass<T> = new (apiClient?: SdkApiClient) => T;

/**
 * `nestjs-genesys-auth/sdk`: Genesys' official JavaScript SDK (`purecloud-platform-client-v2`, an
 * optional peer dependency) on a registration's managed token. Only this subpath loads the SDK.
 */
export { GenesysPlatformClient } from './genesys-platform-client.js';
export { getGenesysPlatformClientToken } from './tokens.js';
export { InjectGenesysPlatformClient } from './decorators.js';
export { GenesysSdkModule, type GenesysSdkFeatureOptions } from './genesys-sdk.module.js';
export type { SdkApiClass, SdkApiClient, SdkHttpRequestOptions } from './platform-sdk.js';

/**
 * `nestjs-genesys-auth/sdk`: Genesys' official JavaScript SDK (`purecloud-platform-client-v2`, an
 * optional peer dependency) on a registration's managed token. Only this subpath loads the SDK.
 */
export { GenesysPlatformClient, getGenesysPlatformClientToken } from './genesys-platform-client.js';
export { GenesysSdkModule, InjectGenesysPlatformClient, type GenesysSdkFeatureOptions } from './genesys-sdk.module.js';
export type { SdkApiClass, SdkApiClient, SdkHttpRequestOptions } from './platform-sdk.js';

export { GenesysAuthModule } from './genesys-auth.module.js';
export type {
  GenesysAuthModuleAsyncOptions,
  GenesysAuthModuleExtras,
  GenesysAuthModuleForRootOptions,
} from './genesys-auth.module-definition.js';
export { GENESYS_AUTH_MODULE_OPTIONS } from './genesys-auth.module-definition.js';
export type { GenesysClientRegistryModuleAsyncOptions, GenesysClientRegistryModuleOptions } from './client/registry.module.js';
export { GenesysClient } from './client/genesys-client.js';
export { GenesysClientRegistry, type GenesysClientRegistryOptions } from './client/genesys-client-registry.js';
export {
  getGenesysAuthInterceptorToken,
  getGenesysClientToken,
  getGenesysHttpServiceToken,
  getGenesysTokenServiceToken,
} from './client/tokens.js';
export { InjectGenesysClient, InjectGenesysHttp, InjectGenesysTokens } from './client/decorators.js';
export { GenesysTokenService } from './token/genesys-token.service.js';
export { GenesysHttpService } from './http/genesys-http.service.js';
export { GenesysAuthInterceptor } from './http/genesys-auth.interceptor.js';
export { GenesysAuthError, type GenesysAuthErrorCode, type GenesysAuthErrorDetails } from './errors.js';
export { GenesysAuthExceptionFilter } from './genesys-auth-exception.filter.js';
export { GENESYS_REGIONS, DEFAULT_GENESYS_REGION, findGenesysRegion, type GenesysRegion } from './regions.js';
export type {
  GenesysAuthModuleOptions,
  GenesysRateLimitOptions,
  GenesysRateLimitRetryOptions,
  GenesysTokenPoolOptions,
  GenesysTokenRefreshOptions,
  GenesysTokenRetryOptions,
} from './interfaces/genesys-auth-options.interface.js';
export type { GenesysAuthOptionsFactory } from './interfaces/genesys-auth-options-factory.interface.js';
export type {
  GenesysToken,
  GenesysTokenCoolDown,
  GenesysTokenEvent,
  GenesysTokenPoolState,
  GenesysTokenState,
  GenesysTokenStatus,
} from './interfaces/genesys-token.interface.js';
export type { BudgetClaim, GenesysTokenStore, StoredToken } from './store/genesys-token-store.js';
export { MemoryTokenStore } from './store/memory-token-store.js';

export {
  GenesysCloudEmulator,
  type ApiRateLimitOptions,
  type EmulatedClient,
  type EmulatorEndpoint,
  type EmulatorFault,
  type EmulatorRoute,
  type EmulatorStats,
  type GenesysCloudEmulatorOptions,
  type RecordedRequest,
  type RouteRateLimit,
  type TokenRateLimitOptions,
} from './genesys-cloud-emulator.js';

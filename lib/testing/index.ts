export {
  GenesysCloudEmulator,
  type EmulatorFault,
  type EmulatorRoute,
  type EmulatorStats,
  type GenesysCloudEmulatorOptions,
  type RecordedRequest,
} from './genesys-cloud-emulator.js';

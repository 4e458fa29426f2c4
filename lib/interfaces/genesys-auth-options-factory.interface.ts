import type { GenesysAuthModuleOptions } from './genesys-auth-options.interface.js';

/** Implement this on a class given to `forRootAsync({ useClass })` or `useExisting`. */
export interface GenesysAuthOptionsFactory {
  createGenesysAuthOptions(): GenesysAuthModuleOptions | Promise<GenesysAuthModuleOptions>;
}

import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { GenesysAuthModuleOptions } from './interfaces/genesys-auth-options.interface.js';

/** Extra options of `forRoot` / `forRootAsync` that shape the module rather than the auth. */
export interface GenesysAuthModuleExtras {
  /** Register the module globally, so feature modules need not import it. Default `false`. */
  readonly isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: GenesysAuthConfigurableModule,
  MODULE_OPTIONS_TOKEN: GENESYS_AUTH_MODULE_OPTIONS,
  OPTIONS_TYPE: GENESYS_AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: GENESYS_AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<GenesysAuthModuleOptions>({ moduleName: 'GenesysAuth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createGenesysAuthOptions')
  .setExtras<GenesysAuthModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/** What `GenesysAuthModule.forRoot()` accepts: the auth options plus `isGlobal`. */
export type GenesysAuthModuleForRootOptions = typeof GENESYS_AUTH_OPTIONS_TYPE;
/** What `GenesysAuthModule.forRootAsync()` accepts: `imports`, `inject` with `useFactory`, or `useClass`, or `useExisting`, plus `isGlobal`. */
export type GenesysAuthModuleAsyncOptions = typeof GENESYS_AUTH_ASYNC_OPTIONS_TYPE;

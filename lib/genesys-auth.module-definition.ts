import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { GenesysAuthModuleOptions } from './interfaces/genesys-auth-options.interface.js';

/** Extra options of `forRoot` / `forRootAsync` that shape the module rather than the auth. */
export interface GenesysAuthModuleExtras {
  /** Register the module globally, so feature modules need not import it. Default `false`. */
  readonly isGlobal?: boolean;
}

const definition = new ConfigurableModuleBuilder<GenesysAuthModuleOptions>({ moduleName: 'GenesysAuth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createGenesysAuthOptions')
  .setExtras<GenesysAuthModuleExtras>({ isGlobal: false }, (dynamicModule, extras) => ({
    ...dynamicModule,
    global: extras.isGlobal,
  }))
  .build();

/** Base class of `GenesysAuthModule`: provides `forRoot` and `forRootAsync`. */
export const GenesysAuthConfigurableModule = definition.ConfigurableModuleClass;

/** Injection token of the options exactly as given to `forRoot` / `forRootAsync`, before validation. */
export const GENESYS_AUTH_MODULE_OPTIONS = definition.MODULE_OPTIONS_TOKEN;

/** What `GenesysAuthModule.forRoot()` accepts: the auth options plus `isGlobal`. */
export type GenesysAuthModuleForRootOptions = typeof definition.OPTIONS_TYPE;
/** What `GenesysAuthModule.forRootAsync()` accepts: `imports`, `inject` with `useFactory`, or `useClass`, or `useExisting`, plus `isGlobal`. */
export type GenesysAuthModuleAsyncOptions = typeof definition.ASYNC_OPTIONS_TYPE;

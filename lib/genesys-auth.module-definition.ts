import { ConfigurableModuleBuilder, type DynamicModule, type InjectionToken } from '@nestjs/common';
import { withClientProviders } from './client/client-providers.js';
import { validRegistrationName } from './client/tokens.js';
import type { GenesysAuthModuleOptions } from './interfaces/genesys-auth-options.interface.js';

/** Extra options of `forRoot` / `forRootAsync` that shape the module rather than the auth. */
export interface GenesysAuthModuleExtras {
  /** Register the module globally, so feature modules need not import it. Default `false`. */
  readonly isGlobal?: boolean;
  /**
   * Name of this registration, for apps with several Genesys orgs or OAuth clients. Inject its parts
   * with `@InjectGenesysHttp(name)`, `@InjectGenesysTokens(name)`, `@InjectGenesysClient(name)`.
   * Without a name the classes themselves are the injection tokens. Names are unique in an app, and
   * so is the unnamed registration. 1 to 64 letters, digits, `_`, `.` or `-`.
   */
  readonly name?: string;
}

/** Set right after the build below; the transform that reads it runs later, in `forRoot()`. */
let optionsToken: InjectionToken;

const definition = new ConfigurableModuleBuilder<GenesysAuthModuleOptions>({ moduleName: 'GenesysAuth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createGenesysAuthOptions')
  .setExtras<GenesysAuthModuleExtras>({ isGlobal: false, name: undefined }, (dynamicModule, extras): DynamicModule =>
    withClientProviders({ ...dynamicModule, global: extras.isGlobal }, validRegistrationName(extras.name), optionsToken),
  )
  .build();
optionsToken = definition.MODULE_OPTIONS_TOKEN;

/** Base class of `GenesysAuthModule`: provides `forRoot` and `forRootAsync`. */
export const GenesysAuthConfigurableModule = definition.ConfigurableModuleClass;

/** Injection token of the options exactly as given to `forRoot` / `forRootAsync`, before validation (inside the registration's module). */
export const GENESYS_AUTH_MODULE_OPTIONS = definition.MODULE_OPTIONS_TOKEN;

/** What `GenesysAuthModule.forRoot()` accepts: the auth options plus `isGlobal` and `name`. */
export type GenesysAuthModuleForRootOptions = typeof definition.OPTIONS_TYPE;
/** What `GenesysAuthModule.forRootAsync()` accepts: `imports`, `inject` with `useFactory`, or `useClass`, or `useExisting`, plus `isGlobal` and `name`. */
export type GenesysAuthModuleAsyncOptions = typeof definition.ASYNC_OPTIONS_TYPE;

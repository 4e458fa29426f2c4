import { ConfigurableModuleBuilder, Module } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { systemClock } from '../clock.js';
import { GenesysClientRegistry, type GenesysClientRegistryOptions } from './genesys-client-registry.js';

const definition = new ConfigurableModuleBuilder<GenesysClientRegistryOptions>({ moduleName: 'GenesysClientRegistry' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createGenesysClientRegistryOptions')
  .setExtras<{ isGlobal?: boolean }>({ isGlobal: false }, (dynamicModule, extras) => ({ ...dynamicModule, global: extras.isGlobal }))
  .build();

/** What `GenesysAuthModule.forRegistry()` accepts: the registry options plus `isGlobal`. */
export type GenesysClientRegistryModuleOptions = typeof definition.OPTIONS_TYPE;
/** What `GenesysAuthModule.forRegistryAsync()` accepts: `imports`, `inject` with `useFactory`, `useClass` or `useExisting`, plus `isGlobal`. */
export type GenesysClientRegistryModuleAsyncOptions = typeof definition.ASYNC_OPTIONS_TYPE;

/** @internal The module behind `GenesysAuthModule.forRegistry()`; import what that returns. */
@Module({
  providers: [
    {
      provide: GenesysClientRegistry,
      useFactory: (options: GenesysClientRegistryOptions, schedulerRegistry?: SchedulerRegistry) =>
        new GenesysClientRegistry(options, { clock: systemClock, schedulerRegistry }),
      inject: [definition.MODULE_OPTIONS_TOKEN, { token: SchedulerRegistry, optional: true }],
    },
  ],
  exports: [GenesysClientRegistry],
})
export class GenesysClientRegistryModule extends definition.ConfigurableModuleClass {}

import { Module, type DynamicModule } from '@nestjs/common';
import { GenesysClientRegistryModule, type GenesysClientRegistryModuleAsyncOptions, type GenesysClientRegistryModuleOptions } from './client/registry.module.js';
import { GenesysAuthConfigurableModule } from './genesys-auth.module-definition.js';

/**
 * Genesys Cloud OAuth client credentials for a NestJS app.
 *
 * - `forRoot` / `forRootAsync`: one client known at start-up; add `name` for each of several orgs or OAuth clients.
 * - `forRegistry` / `forRegistryAsync`: clients created at run time by key (tenants in a database).
 *
 * @example
 * GenesysAuthModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({
 *     clientId: config.getOrThrow<string>('GENESYSCLOUD_OAUTHCLIENT_ID'),
 *     clientSecret: config.getOrThrow<string>('GENESYSCLOUD_OAUTHCLIENT_SECRET'),
 *     region: config.get<string>('GENESYSCLOUD_REGION', 'us-east-1'),
 *   }),
 * })
 */
@Module({})
export class GenesysAuthModule extends GenesysAuthConfigurableModule {
  /** Provides `GenesysClientRegistry`: Genesys clients created at run time, one per key. */
  static forRegistry(options: GenesysClientRegistryModuleOptions = {}): DynamicModule {
    return GenesysClientRegistryModule.forRoot(options);
  }

  /** `forRegistry` with options from a factory, a class or an existing provider (e.g. to reach a tenant store). */
  static forRegistryAsync(options: GenesysClientRegistryModuleAsyncOptions): DynamicModule {
    return GenesysClientRegistryModule.forRootAsync(options);
  }
}

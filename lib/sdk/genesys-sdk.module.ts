import { Module, type DynamicModule } from '@nestjs/common';
import { GenesysPlatformClient } from './genesys-platform-client.js';

/** Options of {@link GenesysSdkModule.forFeature}. */
export interface GenesysSdkFeatureOptions {
  /** The `GenesysAuthModule` registration (`forRoot({ name })`) whose token the SDK calls use; the unnamed one by default. */
  readonly name?: string;
}

/**
 * Provides a {@link GenesysPlatformClient} for one `GenesysAuthModule` registration: the class itself for
 * the unnamed registration, `@InjectGenesysPlatformClient(name)` for a named one. Import it once per
 * registration you need, where you need it.
 *
 * @example
 * @Module({
 *   imports: [GenesysSdkModule.forFeature(), GenesysSdkModule.forFeature({ name: 'emea' })],
 *   providers: [QueuesService],
 * })
 * export class QueuesModule {}
 */
@Module({})
export class GenesysSdkModule {
  /** A module exporting the platform client of the registration called `options.name`. */
  static forFeature(options: GenesysSdkFeatureOptions = {}): DynamicModule {
    const provider = GenesysPlatformClient.forRegistration(options.name);
    return { module: GenesysSdkModule, providers: [provider], exports: [provider.provide] };
  }
}

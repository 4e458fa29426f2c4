import { Module } from '@nestjs/common';
import { GENESYS_AUTH_CLOCK, systemClock } from './clock.js';
import { GenesysAuthInterceptor } from './genesys-auth.interceptor.js';
import { GENESYS_AUTH_MODULE_OPTIONS, GenesysAuthConfigurableModule } from './genesys-auth.module-definition.js';
import { GENESYS_AUTH_CONFIG, resolveGenesysAuthOptions } from './genesys-auth.options.js';
import { GenesysHttpService } from './genesys-http.service.js';
import { GenesysTokenService } from './genesys-token.service.js';
import { GenesysTokenClient } from './token-client.js';

/**
 * Genesys Cloud OAuth client credentials for a NestJS app.
 *
 * @example
 * GenesysAuthModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({
 *     clientId: config.getOrThrow('GENESYSCLOUD_OAUTHCLIENT_ID'),
 *     clientSecret: config.getOrThrow('GENESYSCLOUD_OAUTHCLIENT_SECRET'),
 *     region: config.get('GENESYSCLOUD_REGION', 'us-east-1'),
 *   }),
 * })
 */
@Module({
  providers: [
    { provide: GENESYS_AUTH_CONFIG, useFactory: resolveGenesysAuthOptions, inject: [GENESYS_AUTH_MODULE_OPTIONS] },
    { provide: GENESYS_AUTH_CLOCK, useValue: systemClock },
    GenesysTokenClient,
    GenesysTokenService,
    GenesysAuthInterceptor,
    GenesysHttpService,
  ],
  exports: [GENESYS_AUTH_CONFIG, GENESYS_AUTH_CLOCK, GenesysTokenService, GenesysAuthInterceptor, GenesysHttpService],
})
export class GenesysAuthModule extends GenesysAuthConfigurableModule {}

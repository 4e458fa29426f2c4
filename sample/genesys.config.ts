import type { ConfigService } from '@nestjs/config';
import type { GenesysAuthModuleOptions } from 'nestjs-genesys-auth';

/**
 * Genesys settings from the environment, under the names Genesys' own tools use.
 * `GENESYSCLOUD_LOGIN_BASE_URL` / `GENESYSCLOUD_API_BASE_URL` are this sample's extras, used to point at the emulator.
 */
export function genesysOptionsFromConfig(config: ConfigService): GenesysAuthModuleOptions {
  return {
    clientId: config.getOrThrow<string>('GENESYSCLOUD_OAUTHCLIENT_ID'),
    clientSecret: config.getOrThrow<string>('GENESYSCLOUD_OAUTHCLIENT_SECRET'),
    region: config.get<string>('GENESYSCLOUD_REGION', 'us-east-1'),
    loginBaseUrl: config.get<string>('GENESYSCLOUD_LOGIN_BASE_URL'),
    apiBaseUrl: config.get<string>('GENESYSCLOUD_API_BASE_URL'),
  };
}

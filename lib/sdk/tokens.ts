import type { InjectionToken } from '@nestjs/common';
import { GenesysPlatformClient } from './genesys-platform-client.js';

/** Injection token of the platform client of the registration called `name`: the `GenesysPlatformClient` class without a name. */
export function getGenesysPlatformClientToken(name?: string): InjectionToken {
  return name === undefined ? GenesysPlatformClient : `nestjs-genesys-auth:sdk:${name}`;
}

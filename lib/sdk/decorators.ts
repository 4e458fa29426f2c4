import { Inject } from '@nestjs/common';
import { getGenesysPlatformClientToken } from './tokens.js';

/** Injects the `GenesysPlatformClient` of the registration called `name` (the unnamed one without it). */
export const InjectGenesysPlatformClient = (name?: string): ParameterDecorator & PropertyDecorator =>
  Inject(getGenesysPlatformClientToken(name));

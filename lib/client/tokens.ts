import type { InjectionToken } from '@nestjs/common';
import { GenesysAuthError } from '../errors.js';
import { GenesysAuthInterceptor } from '../http/genesys-auth.interceptor.js';
import { GenesysHttpService } from '../http/genesys-http.service.js';
import { GenesysTokenService } from '../token/genesys-token.service.js';
import { GenesysClient } from './genesys-client.js';

const PREFIX = 'nestjs-genesys-auth';
const NAME_SHAPE = /^[\w.-]{1,64}$/;

/** Checks a registration name: letters, digits, `_`, `.` and `-`, 1 to 64 of them (it appears in log contexts and health keys). */
export function validRegistrationName(name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || !NAME_SHAPE.test(name)) {
    throw new GenesysAuthError(
      'invalid_options',
      `GenesysAuthModule: option "name" must be 1 to 64 letters, digits, "_", "." or "-", not ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Injection token of the {@link GenesysClient} unit of a registration: the `GenesysClient` class without a name. */
export function getGenesysClientToken(name?: string): InjectionToken {
  return name === undefined ? GenesysClient : `${PREFIX}:client:${name}`;
}

/** Injection token of a registration's `GenesysHttpService`: the class itself without a name. */
export function getGenesysHttpServiceToken(name?: string): InjectionToken {
  return name === undefined ? GenesysHttpService : `${PREFIX}:http:${name}`;
}

/** Injection token of a registration's `GenesysTokenService`: the class itself without a name. */
export function getGenesysTokenServiceToken(name?: string): InjectionToken {
  return name === undefined ? GenesysTokenService : `${PREFIX}:tokens:${name}`;
}

/** Injection token of a registration's `GenesysAuthInterceptor`: the class itself without a name. */
export function getGenesysAuthInterceptorToken(name?: string): InjectionToken {
  return name === undefined ? GenesysAuthInterceptor : `${PREFIX}:interceptor:${name}`;
}

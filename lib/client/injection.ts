import { Inject, type InjectionToken } from '@nestjs/common';
import type { ModulesContainer } from '@nestjs/core';
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

/** Injects the `GenesysHttpService` of the registration called `name` (the unnamed one without it). */
export const InjectGenesysHttp = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getGenesysHttpServiceToken(name));

/** Injects the `GenesysTokenService` of the registration called `name` (the unnamed one without it). */
export const InjectGenesysTokens = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getGenesysTokenServiceToken(name));

/** Injects the whole {@link GenesysClient} unit of the registration called `name` (the unnamed one without it). */
export const InjectGenesysClient = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getGenesysClientToken(name));

/** The registration name a client token stands for, or `null` when the token is not a client token. */
function registrationNameOf(token: InjectionToken): string | undefined | null {
  if (token === GenesysClient) return undefined;
  const prefix = `${PREFIX}:client:`;
  return typeof token === 'string' && token.startsWith(prefix) ? token.slice(prefix.length) : null;
}

/** One registration found in an application. */
export interface FoundRegistration {
  readonly name: string | undefined;
  /** The client unit, once instantiated. */
  readonly client?: GenesysClient;
  /** Names of the modules that import the registration, for error messages. */
  readonly importedBy: string[];
}

/** Every `forRoot` / `forRootAsync` registration in an application, found in Nest's module container. */
export function findRegistrations(modules: ModulesContainer): FoundRegistration[] {
  const found: FoundRegistration[] = [];
  for (const module of modules.values()) {
    for (const [token, wrapper] of module.providers) {
      const name = registrationNameOf(token);
      if (name === null) continue;
      const importedBy = [...modules.values()].filter((other) => other.imports.has(module)).map((other) => other.metatype.name);
      found.push({ name, client: wrapper.instance instanceof GenesysClient ? wrapper.instance : undefined, importedBy });
    }
  }
  return found;
}

/** Throws `invalid_options` naming the clash when `name` is registered more than once in the application. */
export function assertSingleRegistration(modules: ModulesContainer, name: string | undefined): void {
  const same = findRegistrations(modules).filter((registration) => registration.name === name);
  if (same.length < 2) return;
  const where = same.map((registration) => registration.importedBy.join(', ') || 'the root module').join(' and ');
  throw new GenesysAuthError(
    'invalid_options',
    name === undefined
      ? `GenesysAuthModule: ${same.length} registrations without a name (imported by ${where}); give all but one a "name", or import one registration everywhere`
      : `GenesysAuthModule: ${same.length} registrations named "${name}" (imported by ${where}); names must be unique in an application`,
  );
}

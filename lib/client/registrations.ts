import { DiscoveryService, type ModuleRef } from '@nestjs/core';
import { GenesysAuthError } from '../errors.js';
import { GenesysClient } from './genesys-client.js';
import { getGenesysClientToken } from './tokens.js';

/**
 * The client unit of the `forRoot` / `forRootAsync` registration called `name` (the unnamed one
 * without it), in whichever module of the application it was registered; `undefined` when there is none.
 */
export function findRegistration(moduleRef: ModuleRef, name: string | undefined): GenesysClient | undefined {
  const client = getOrUndefined<unknown>(moduleRef, getGenesysClientToken(name));
  return client instanceof GenesysClient ? client : undefined;
}

/** The client units of every `forRoot` / `forRootAsync` registration in the application. */
export function findRegistrations(moduleRef: ModuleRef): GenesysClient[] {
  // Each registration imports DiscoveryModule (`withClientProviders`): without one, none is registered.
  const discovery = getOrUndefined<DiscoveryService>(moduleRef, DiscoveryService);
  if (!discovery) return [];
  const clients: GenesysClient[] = [];
  for (const { token, instance } of discovery.getProviders()) {
    // Only a unit under its own registration's token: not a registry client or an alias a module provides.
    if (instance instanceof GenesysClient && token === getGenesysClientToken(instance.name)) clients.push(instance);
  }
  return clients;
}

/** Throws `invalid_options` naming the clash when `name` is registered more than once in the application. */
export function assertSingleRegistration(discovery: DiscoveryService, name: string | undefined): void {
  const token = getGenesysClientToken(name);
  const providers = discovery.getProviders();
  const same = providers.filter((provider) => provider.token === token);
  if (same.length < 2) return;
  // Every module hosts providers of its own (Nest adds the module class and its ModuleRef), so these hosts are all the modules.
  const modules = new Set(providers.flatMap((provider) => (provider.host ? [provider.host] : [])));
  const importersOf = (registration: (typeof same)[number]) =>
    [...modules].filter((module) => registration.host && module.imports.has(registration.host)).map((module) => module.metatype.name);
  const where = same.map((registration) => importersOf(registration).join(', ') || 'the root module').join(' and ');
  throw new GenesysAuthError(
    'invalid_options',
    name === undefined
      ? `GenesysAuthModule: ${same.length} registrations without a name (imported by ${where}); give all but one a "name", or import one registration everywhere`
      : `GenesysAuthModule: ${same.length} registrations named "${name}" (imported by ${where}); names must be unique in an application`,
  );
}

/** What any module of the application provides under `token`, or `undefined` when none does (`get` throws then). */
function getOrUndefined<T>(moduleRef: ModuleRef, token: Parameters<ModuleRef['get']>[0]): T | undefined {
  try {
    return moduleRef.get<T>(token, { strict: false });
  } catch {
    return undefined;
  }
}

import type { DynamicModule, InjectionToken, Provider } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { systemClock } from '../clock.js';
import { loadClientTelemetry } from '../telemetry.js';
import { resolveGenesysAuthOptions } from '../genesys-auth.options.js';
import type { GenesysAuthModuleOptions } from '../interfaces/genesys-auth-options.interface.js';
import { GenesysClient } from './genesys-client.js';
import { assertSingleRegistration } from './registrations.js';
import { getGenesysAuthInterceptorToken, getGenesysClientToken, getGenesysHttpServiceToken, getGenesysTokenServiceToken } from './tokens.js';

/**
 * Adds one registration's client unit to a dynamic module: the unit, its parts under their
 * injection tokens (class tokens without a name, named tokens with one), and its lifecycle.
 */
export function withClientProviders(module: DynamicModule, name: string | undefined, optionsToken: InjectionToken): DynamicModule {
  const clientToken = getGenesysClientToken(name);
  const part = <T>(token: InjectionToken, pick: (client: GenesysClient) => T): Provider => ({
    provide: token,
    useFactory: pick,
    inject: [clientToken],
  });
  const parts = [
    part(getGenesysTokenServiceToken(name), (client) => client.tokens),
    part(getGenesysHttpServiceToken(name), (client) => client.http),
    part(getGenesysAuthInterceptorToken(name), (client) => client.interceptor),
  ];
  const client: Provider = {
    provide: clientToken,
    useFactory: async (options: GenesysAuthModuleOptions, discovery: DiscoveryService, schedulerRegistry?: SchedulerRegistry) => {
      assertSingleRegistration(discovery, name);
      const config = resolveGenesysAuthOptions(options);
      return new GenesysClient(name, config, { clock: systemClock, schedulerRegistry, telemetry: await loadClientTelemetry() });
    },
    inject: [optionsToken, DiscoveryService, { token: SchedulerRegistry, optional: true }],
  };
  // The unit's start and stop, as a provider of its own: the parts above expose no lifecycle hooks, so Nest calls each once.
  // Nest runs each module's hooks in turn: starting in onModuleInit and waiting in onApplicationBootstrap lets the first
  // token requests of all registrations overlap, so start-up takes one token request deadline, not one per registration.
  const lifecycle: Provider = {
    provide: `nestjs-genesys-auth:lifecycle:${name ?? ''}`,
    useFactory: (unit: GenesysClient) => {
      let starting: Promise<void> | undefined;
      return {
        onModuleInit: () => void (starting = unit.start()),
        onApplicationBootstrap: () => starting,
        onApplicationShutdown: () => unit.close(),
      };
    },
    inject: [clientToken],
  };
  return {
    ...module,
    // DiscoveryService finds the other registrations, here and wherever `findRegistrations` looks.
    imports: [...(module.imports ?? []), DiscoveryModule],
    providers: [...(module.providers ?? []), client, ...parts, lifecycle],
    exports: [...(module.exports ?? []), clientToken, ...parts.map((provider) => (provider as { provide: InjectionToken }).provide)],
  };
}

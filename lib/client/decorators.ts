import { Inject } from '@nestjs/common';
import { getGenesysClientToken, getGenesysHttpServiceToken, getGenesysTokenServiceToken } from './tokens.js';

/** Injects the `GenesysHttpService` of the registration called `name` (the unnamed one without it). */
export const InjectGenesysHttp = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getGenesysHttpServiceToken(name));

/** Injects the `GenesysTokenService` of the registration called `name` (the unnamed one without it). */
export const InjectGenesysTokens = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getGenesysTokenServiceToken(name));

/** Injects the whole `GenesysClient` unit of the registration called `name` (the unnamed one without it). */
export const InjectGenesysClient = (name?: string): ParameterDecorator & PropertyDecorator => Inject(getGenesysClientToken(name));

export { GenesysAuthHealthIndicator, type GenesysAuthHealthAllOptions, type GenesysAuthHealthOptions } from './genesys-auth.health.js';

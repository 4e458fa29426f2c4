export { GenesysAuthHealthIndicator, type GenesysAuthHealthOptions } from './genesys-auth.health.js';

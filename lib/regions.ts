/**
 * One Genesys Cloud region: its AWS-style name, its domain and, where Genesys has one, its short code.
 * The login host is `login.<domain>` and the API host `api.<domain>`.
 */
export interface GenesysRegion {
  /** AWS-style name used by Genesys' own tools, e.g. `eu-west-1`. */
  readonly name: string;
  /** The region's domain, e.g. `mypurecloud.ie`. */
  readonly domain: string;
  /** Short code used in newer domains, e.g. `euw2`; absent for the original regions. */
  readonly shortCode?: string;
}

/** Every Genesys Cloud region, from Genesys' SDK region tables (see README for the source). */
export const GENESYS_REGIONS: readonly GenesysRegion[] = Object.freeze([
  { name: 'us-east-1', domain: 'mypurecloud.com' },
  { name: 'us-east-2', domain: 'use2.us-gov-pure.cloud', shortCode: 'use2' },
  { name: 'us-west-2', domain: 'usw2.pure.cloud', shortCode: 'usw2' },
  { name: 'ca-central-1', domain: 'cac1.pure.cloud', shortCode: 'cac1' },
  { name: 'sa-east-1', domain: 'sae1.pure.cloud', shortCode: 'sae1' },
  { name: 'mx-central-1', domain: 'mxc1.pure.cloud', shortCode: 'mxc1' },
  { name: 'eu-west-1', domain: 'mypurecloud.ie' },
  { name: 'eu-west-2', domain: 'euw2.pure.cloud', shortCode: 'euw2' },
  { name: 'eu-central-1', domain: 'mypurecloud.de' },
  { name: 'eu-central-2', domain: 'euc2.pure.cloud', shortCode: 'euc2' },
  { name: 'eusc-de-east-1', domain: 'edee1.eusc-pure.cloud', shortCode: 'edee1' },
  { name: 'me-central-1', domain: 'mec1.pure.cloud', shortCode: 'mec1' },
  { name: 'ap-south-1', domain: 'aps1.pure.cloud', shortCode: 'aps1' },
  { name: 'ap-southeast-1', domain: 'apse1.pure.cloud', shortCode: 'apse1' },
  { name: 'ap-southeast-2', domain: 'mypurecloud.com.au' },
  { name: 'ap-northeast-1', domain: 'mypurecloud.jp' },
  { name: 'ap-northeast-2', domain: 'apne2.pure.cloud', shortCode: 'apne2' },
  { name: 'ap-northeast-3', domain: 'apne3.pure.cloud', shortCode: 'apne3' },
] satisfies GenesysRegion[]).map((region) => Object.freeze(region));

/** The region used when none is configured: `us-east-1` (`mypurecloud.com`). */
export const DEFAULT_GENESYS_REGION = 'mypurecloud.com';

/**
 * Finds a region by domain (`mypurecloud.ie`), AWS-style name (`eu-west-1`, also `eu_west_1`)
 * or short code (`euw2`). Case and surrounding blanks are ignored. Returns `undefined` when unknown.
 */
export function findGenesysRegion(input: string): GenesysRegion | undefined {
  const key = input.trim().toLowerCase();
  const awsStyleKey = key.replaceAll('_', '-');
  return GENESYS_REGIONS.find(
    (region) => region.domain === key || region.name === awsStyleKey || region.shortCode === key,
  );
}

/** Every accepted spelling, for error messages: `us-east-1 (mypurecloud.com)`, `us-west-2 (usw2.pure.cloud, usw2)`, … */
export function describeGenesysRegions(): string {
  return GENESYS_REGIONS.map(
    (region) => `${region.name} (${[region.domain, region.shortCode].filter(Boolean).join(', ')})`,
  ).join('; ');
}

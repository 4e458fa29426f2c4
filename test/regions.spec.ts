import { describe, expect, it } from '@jest/globals';
import { findGenesysRegion, GENESYS_REGIONS } from 'nestjs-genesys-auth';

describe('Genesys Cloud regions', () => {
  it('lists all 18 regions with distinct names and domains', () => {
    expect(GENESYS_REGIONS).toHaveLength(18);
    expect(new Set(GENESYS_REGIONS.map((region) => region.name)).size).toBe(18);
    expect(new Set(GENESYS_REGIONS.map((region) => region.domain)).size).toBe(18);
  });

  it.each([
    ['us-east-1', 'mypurecloud.com'],
    ['us-east-2', 'use2.us-gov-pure.cloud'],
    ['us-west-2', 'usw2.pure.cloud'],
    ['ca-central-1', 'cac1.pure.cloud'],
    ['sa-east-1', 'sae1.pure.cloud'],
    ['mx-central-1', 'mxc1.pure.cloud'],
    ['eu-west-1', 'mypurecloud.ie'],
    ['eu-west-2', 'euw2.pure.cloud'],
    ['eu-central-1', 'mypurecloud.de'],
    ['eu-central-2', 'euc2.pure.cloud'],
    ['eusc-de-east-1', 'edee1.eusc-pure.cloud'],
    ['me-central-1', 'mec1.pure.cloud'],
    ['ap-south-1', 'aps1.pure.cloud'],
    ['ap-southeast-1', 'apse1.pure.cloud'],
    ['ap-southeast-2', 'mypurecloud.com.au'],
    ['ap-northeast-1', 'mypurecloud.jp'],
    ['ap-northeast-2', 'apne2.pure.cloud'],
    ['ap-northeast-3', 'apne3.pure.cloud'],
  ])('maps the AWS-style name %s to %s', (name, domain) => {
    expect(findGenesysRegion(name)?.domain).toBe(domain);
    expect(findGenesysRegion(domain)?.name).toBe(name);
  });

  it.each([
    ['usw2', 'usw2.pure.cloud'],
    ['use2', 'use2.us-gov-pure.cloud'],
    ['euw2', 'euw2.pure.cloud'],
    ['edee1', 'edee1.eusc-pure.cloud'],
  ])('maps the short code %s to %s', (code, domain) => {
    expect(findGenesysRegion(code)?.domain).toBe(domain);
  });

  it('accepts the underscore form and ignores case and blanks', () => {
    expect(findGenesysRegion(' EU_WEST_1 ')?.domain).toBe('mypurecloud.ie');
  });

  it.each(['eu-west-9', 'pure.cloud', 'api.mypurecloud.com', '', 'mypurecloud.com.evil.test'])('does not guess an unknown region: %j', (input) => {
    expect(findGenesysRegion(input)).toBeUndefined();
  });
});

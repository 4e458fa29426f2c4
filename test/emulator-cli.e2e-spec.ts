import { afterEach, describe, expect, it } from '@jest/globals';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import {
  DEFAULT_EMULATOR_CLI_PORT,
  EmulatorCliUsageError,
  emulatorEnvLines,
  parseEmulatorCliArgs,
} from '../lib/testing/emulator-cli-options.js';

// The options of the `genesys-cloud-emulator` bin, checked in-process; the bin itself (start-up,
// printed lines, signals, exit codes) is tested as installed from the packed package, in package.e2e-spec.ts.

const started: GenesysCloudEmulator[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((emulator) => emulator.close()));
});

/** The emulator a command line starts (on a free port). */
async function startFrom(args: string[]): Promise<GenesysCloudEmulator> {
  const command = parseEmulatorCliArgs(['--port', '0', ...args]);
  if (command.help) throw new Error('expected options, got --help');
  const emulator = await GenesysCloudEmulator.start(command.options);
  started.push(emulator);
  return emulator;
}

function requestToken(emulator: GenesysCloudEmulator, clientId: string, clientSecret: string): Promise<Response> {
  return fetch(`${emulator.loginBaseUrl}/oauth/token`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
}

async function tokenOf(emulator: GenesysCloudEmulator, clientId = emulator.clientId, clientSecret = emulator.clientSecret) {
  const response = await requestToken(emulator, clientId, clientSecret);
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; expires_in: number };
}

/** The message of the usage error `args` cause, or a note that they caused none. */
function usageError(args: string[]): string {
  try {
    parseEmulatorCliArgs(args);
    return 'no error';
  } catch (error) {
    if (!(error instanceof EmulatorCliUsageError)) throw error;
    return error.message;
  }
}

describe('genesys-cloud-emulator options', () => {
  it(`defaults to 127.0.0.1:${DEFAULT_EMULATOR_CLI_PORT} and leaves clients, token lifetime and rate limit to the emulator's defaults`, () => {
    expect(parseEmulatorCliArgs([])).toEqual({ help: false, options: { host: '127.0.0.1', port: DEFAULT_EMULATOR_CLI_PORT } });
  });

  it('takes --port 0 (any free port) and a loopback --host, in both `--name value` and `--name=value` forms', () => {
    expect(parseEmulatorCliArgs(['--port=0', '--host', '::1'])).toEqual({ help: false, options: { host: '::1', port: 0 } });
  });

  it.each([[['--help']], [['-h']], [['--port', '1', '--help']]])('asks for the usage text with %j', (args) => {
    expect(parseEmulatorCliArgs(args)).toEqual({ help: true });
  });

  it('starts an emulator that accepts each --client and none other, the first as the printed one', async () => {
    const emulator = await startFrom(['--client', 'app-a:secret-a', '--client', 'app-b:secret/b+=']);

    expect((await requestToken(emulator, 'app-a', 'secret-a')).status).toBe(200);
    expect((await requestToken(emulator, 'app-b', 'secret/b+=')).status).toBe(200);
    expect((await requestToken(emulator, 'emulator-client-id', 'emulator-client-secret')).status).toBe(400);
    expect(emulatorEnvLines(emulator)).toContain('GENESYSCLOUD_OAUTHCLIENT_ID=app-a\nGENESYSCLOUD_OAUTHCLIENT_SECRET=secret-a');
  });

  it('starts an emulator whose tokens last --token-lifetime seconds', async () => {
    const emulator = await startFrom(['--token-lifetime', '60']);

    expect((await tokenOf(emulator)).expires_in).toBe(60);
  });

  it('starts an emulator that answers 429 once a token has made --rate-limit API requests', async () => {
    const emulator = await startFrom(['--rate-limit', '2']);
    const { access_token } = await tokenOf(emulator);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${emulator.apiBaseUrl}/api/v2/organizations/me`, { headers: { Authorization: `Bearer ${access_token}` } });
      await response.arrayBuffer();
      statuses.push(response.status);
    }

    expect(statuses).toEqual([200, 200, 429]);
    expect(emulator.apiRateLimit).toEqual({ requestsPerToken: 2, windowMs: 60_000 });
  });

  it('prints exactly the four lines an app reads, as KEY=value', async () => {
    const emulator = await startFrom([]);

    expect(emulatorEnvLines(emulator).split('\n')).toEqual([
      `GENESYSCLOUD_LOGIN_BASE_URL=${emulator.url}`,
      `GENESYSCLOUD_API_BASE_URL=${emulator.url}`,
      'GENESYSCLOUD_OAUTHCLIENT_ID=emulator-client-id',
      'GENESYSCLOUD_OAUTHCLIENT_SECRET=emulator-client-secret',
    ]);
  });

  it.each<[string, string[], RegExp]>([
    ['an unknown option', ['--verbose'], /^unknown option --verbose$/],
    ['an unknown short option', ['-p', '9099'], /^unknown option -p$/],
    ['an argument that is not an option', ['9099'], /^unexpected argument "9099"/],
    ['"--"', ['--', '--port'], /^unexpected "--"/],
    ['an option without its value', ['--port'], /^--port needs a value/],
    ['an option followed by another option instead of its value', ['--port', '--host', '::1'], /^--port needs a value/],
    ['a value given to --help', ['--help=yes'], /^--help takes no value$/],
    ['an option given twice', ['--port', '1', '--port', '2'], /^--port is given more than once$/],
    ['a port that is not a number', ['--port', 'http'], /^--port must be a whole number from 0 to 65535, not "http"$/],
    ['a port above 65535', ['--port', '65536'], /^--port must be a whole number from 0 to 65535/],
    ['a negative port', ['--port=-1'], /^--port must be a whole number from 0 to 65535/],
    ['a port in another notation', ['--port', '0x50'], /^--port must be a whole number/],
    ['an empty port', ['--port='], /^--port must be a whole number/],
    ['a port with spaces', ['--port', ' 80'], /^--port must be a whole number/],
    ['a host that is not loopback', ['--host', '0.0.0.0'], /^--host must be a loopback address .*not "0\.0\.0\.0"/],
    ['a host name', ['--host', 'example.com'], /^--host must be a loopback address/],
    ['a 127.x address with an octet above 255', ['--host', '127.0.0.256'], /^--host must be a loopback address/],
    ['a token lifetime of 0', ['--token-lifetime', '0'], /^--token-lifetime must be a whole number from 1 to 172800, not "0"$/],
    ['a token lifetime above 48 hours', ['--token-lifetime', '172801'], /^--token-lifetime must be a whole number from 1 to 172800/],
    ['a fractional token lifetime', ['--token-lifetime', '1.5'], /^--token-lifetime must be a whole number/],
    ['a rate limit of 0', ['--rate-limit', '0'], /^--rate-limit must be a whole number from 1 to 1000000, not "0"$/],
    ['a rate limit above 1000000', ['--rate-limit', '99999999999999'], /^--rate-limit must be a whole number from 1 to 1000000/],
    ['a client without a secret', ['--client', 'app-a'], /^--client must be <id>:<secret>/],
    ['a client with an empty secret', ['--client', 'app-a:'], /^--client must be <id>:<secret>/],
    ['a client with an empty id', ['--client', ':secret'], /^--client must be <id>:<secret>/],
    ['a client id with a space', ['--client', 'app a:secret'], /^--client must be <id>:<secret>/],
    ['a secret with characters a .env file reads differently', ['--client', 'app:se#cret'], /^--client must be <id>:<secret>/],
    ['a secret with a shell expansion', ['--client', 'app:$HOME'], /^--client must be <id>:<secret>/],
    ['a client id longer than 128 characters', ['--client', `${'a'.repeat(129)}:secret`], /^--client must be <id>:<secret>/],
    ['a secret longer than 256 characters', ['--client', `app:${'s'.repeat(257)}`], /^--client must be <id>:<secret>/],
    ['a client id given twice', ['--client', 'app:one', '--client', 'app:two'], /^--client "app" is given more than once/],
    ['more than 100 clients', Array.from({ length: 101 }, (_, index) => `--client=app-${index}:secret`), /^--client is given 101 times; at most 100 clients$/],
  ])('refuses %s, saying why', (_, args, message) => {
    expect(usageError(args)).toMatch(message);
  });

  it('does not repeat a refused --client in its message, as it may hold a real secret', () => {
    expect(usageError(['--client', 'real-id:real secret'])).not.toMatch(/real/);
  });
});

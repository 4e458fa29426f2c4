import { parseArgs } from 'node:util';
import type { EmulatedClient, GenesysCloudEmulatorOptions } from './genesys-cloud-emulator.js';

/*
 * Command-line options of the `genesys-cloud-emulator` bin (./emulator-cli.ts), kept apart from it
 * so that tests can check them without starting a process. Not part of the public API: not exported
 * from ./index.ts, and the package's exports map offers no path to it.
 */

/** The bin's name, as messages and the usage text show it. */
export const EMULATOR_CLI_NAME = 'genesys-cloud-emulator';

/** The port when `--port` is not given: a fixed one, so that the printed lines can live in a `.env` file. */
export const DEFAULT_EMULATOR_CLI_PORT = 9099;

/** Genesys' longest client-credentials token lifetime (48 hours), the most `--token-lifetime` takes. */
const MAX_TOKEN_LIFETIME_SECONDS = 172_800;
const MAX_RATE_LIMIT = 1_000_000;
const MAX_CLIENTS = 100;
/**
 * Characters allowed in client ids and secrets: enough for Genesys' (UUID ids, base64-like secrets),
 * and none that a `.env` parser or a shell sourcing the printed lines would read differently
 * (quotes, `#`, `$`, spaces, `~`). An id cannot hold `:`, which ends it in Basic credentials.
 */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,128}$/;
const CLIENT_SECRET = /^[A-Za-z0-9._+/=-]{1,256}$/;
/** The addresses the emulator agrees to listen on, with IPv4 octets checked (the emulator only checks their shape). */
const LOOPBACK_HOST = /^(?:localhost|::1|127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})$/;

export const EMULATOR_CLI_USAGE = `Usage: ${EMULATOR_CLI_NAME} [options]

Runs the Genesys Cloud emulator of nestjs-genesys-auth (OAuth client credentials and a few
Platform API endpoints, on loopback) until Ctrl-C or SIGTERM, and prints on stdout the
environment lines that point an app at it (e.g. \`${EMULATOR_CLI_NAME} > .env.emulator\`).

Options:
  --port <n>                  port to listen on, 0 to 65535; 0 picks a free one
                              (default ${DEFAULT_EMULATOR_CLI_PORT})
  --host <address>            loopback address to listen on: 127.x.x.x, ::1 or localhost
                              (default 127.0.0.1)
  --client <id>:<secret>      a client the token endpoint accepts, each in an organization of
                              its own; repeat for several, the first is printed
                              (default emulator-client-id:emulator-client-secret)
  --token-lifetime <seconds>  expires_in of issued tokens, 1 to ${MAX_TOKEN_LIFETIME_SECONDS} (default 86400)
  --rate-limit <n>            API requests per minute per token before a 429, 1 to ${MAX_RATE_LIMIT}
                              (default 300, Genesys' limit)
  -h, --help                  show this help
`;

/** A command line the bin cannot run; the bin prints the message and exits with code 2. */
export class EmulatorCliUsageError extends Error {
  override readonly name = 'EmulatorCliUsageError';
}

/** What a command line asks for: the usage text, or an emulator with these options. */
export type EmulatorCliCommand =
  | { readonly help: true }
  | { readonly help: false; readonly options: GenesysCloudEmulatorOptions & { readonly host: string; readonly port: number } };

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  client: { type: 'string', multiple: true },
  'token-lifetime': { type: 'string' },
  'rate-limit': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Reads the bin's arguments (without `node` and the script). Every value is checked and bounded,
 * as it comes from whoever runs the command.
 * @throws EmulatorCliUsageError on an unknown option, a missing, repeated or invalid value, or an argument that is not an option.
 */
export function parseEmulatorCliArgs(args: readonly string[]): EmulatorCliCommand {
  // Not strict: parseArgs' own errors suggest `--` and positionals, which this command does not take.
  const { tokens } = parseArgs({ args: [...args], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, string[]>();
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') throw new EmulatorCliUsageError('unexpected "--": this command takes options only');
    if (token.kind === 'positional') throw new EmulatorCliUsageError(`unexpected argument "${token.value}": this command takes options only`);
    const known = Object.hasOwn(OPTIONS, token.name) ? OPTIONS[token.name as keyof typeof OPTIONS] : undefined;
    if (!known) throw new EmulatorCliUsageError(`unknown option ${token.rawName}`);
    if (known.type === 'boolean') {
      if (token.value !== undefined) throw new EmulatorCliUsageError(`${token.rawName} takes no value`);
      help = true;
      continue;
    }
    // `--port --host x` would otherwise read "--host" as the port.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
      throw new EmulatorCliUsageError(`${token.rawName} needs a value (one that starts with "-" goes as ${token.rawName}=<value>)`);
    }
    const seen = values.get(token.name) ?? [];
    if (seen.length > 0 && !('multiple' in known)) throw new EmulatorCliUsageError(`${token.rawName} is given more than once`);
    values.set(token.name, [...seen, token.value]);
  }
  if (help) return { help: true };

  const single = (name: string) => values.get(name)?.[0];
  const port = wholeNumber('--port', single('port'), 0, 65_535) ?? DEFAULT_EMULATOR_CLI_PORT;
  const host = single('host') ?? '127.0.0.1';
  if (!LOOPBACK_HOST.test(host)) {
    throw new EmulatorCliUsageError(`--host must be a loopback address (127.x.x.x, ::1 or localhost), not "${host}": the emulator listens on loopback only`);
  }
  const tokenLifetimeSeconds = wholeNumber('--token-lifetime', single('token-lifetime'), 1, MAX_TOKEN_LIFETIME_SECONDS);
  const requestsPerToken = wholeNumber('--rate-limit', single('rate-limit'), 1, MAX_RATE_LIMIT);
  const clients = clientsFrom(values.get('client'));
  return {
    help: false,
    options: {
      host,
      port,
      ...(clients ? { clients } : {}),
      ...(tokenLifetimeSeconds === undefined ? {} : { tokenLifetimeSeconds }),
      ...(requestsPerToken === undefined ? {} : { apiRateLimit: { requestsPerToken, windowMs: 60_000 } }),
    },
  };
}

/**
 * The environment lines that point an app at an emulator, as `KEY=value` lines for a `.env` file:
 * the names the README's `ConfigService` examples and the sample read. Values need no quoting:
 * client ids and secrets are limited to characters that read the same unquoted.
 */
export function emulatorEnvLines(emulator: { readonly url: string; readonly clientId: string; readonly clientSecret: string }): string {
  return [
    `GENESYSCLOUD_LOGIN_BASE_URL=${emulator.url}`,
    `GENESYSCLOUD_API_BASE_URL=${emulator.url}`,
    `GENESYSCLOUD_OAUTHCLIENT_ID=${emulator.clientId}`,
    `GENESYSCLOUD_OAUTHCLIENT_SECRET=${emulator.clientSecret}`,
  ].join('\n');
}

/** `text` as a whole number from `min` to `max`; undefined when the option was not given. */
function wholeNumber(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  // Digits only (no sign, exponent, fraction or hex), and few enough of them that Number() is exact.
  const value = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new EmulatorCliUsageError(`${option} must be a whole number from ${min} to ${max}, not "${text}"`);
  return value;
}

/** The clients of `--client id:secret` options, each in an organization of its own; undefined when none was given. */
function clientsFrom(specs: readonly string[] | undefined): EmulatedClient[] | undefined {
  if (specs === undefined) return undefined;
  if (specs.length > MAX_CLIENTS) throw new EmulatorCliUsageError(`--client is given ${specs.length} times; at most ${MAX_CLIENTS} clients`);
  const clients = specs.map((spec, index) => {
    const colon = spec.indexOf(':');
    const [clientId, clientSecret] = colon < 0 ? [spec, ''] : [spec.slice(0, colon), spec.slice(colon + 1)];
    if (!CLIENT_ID.test(clientId) || !CLIENT_SECRET.test(clientSecret)) {
      // The spec is not echoed: it may hold a real secret, and this message goes to logs.
      throw new EmulatorCliUsageError(
        `--client must be <id>:<secret>, with an id of 1 to 128 letters, digits, ".", "_" or "-", and a secret of 1 to 256 of those or "+", "/", "=" (option ${index + 1})`,
      );
    }
    return { clientId, clientSecret, orgName: index === 0 ? 'Emulated Org' : `Emulated Org ${index + 1}` };
  });
  const ids = clients.map((client) => client.clientId);
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) throw new EmulatorCliUsageError(`--client "${repeated}" is given more than once; client ids must be unique`);
  return clients;
}

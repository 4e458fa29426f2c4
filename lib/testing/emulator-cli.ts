#!/usr/bin/env node
/*
 * The `genesys-cloud-emulator` bin: runs the emulator for an app started by hand (`npm run start`
 * offline) and prints the lines that point the app at it. Only a bin: it runs on load, so nothing
 * imports it (the options live in ./emulator-cli-options.ts). Written to compile to both builds: no
 * `import.meta`, no `require`. package.json's `bin` points at the CommonJS build.
 */
import {
  EMULATOR_CLI_NAME,
  EMULATOR_CLI_USAGE,
  EmulatorCliUsageError,
  emulatorEnvLines,
  parseEmulatorCliArgs,
  type EmulatorCliCommand,
} from './emulator-cli-options.js';
import { GenesysCloudEmulator } from './genesys-cloud-emulator.js';

/** How long closing may take before the process exits anyway (code 1), so a stuck close cannot hold the port. */
const CLOSE_DEADLINE_MS = 3_000;

const say = (line: string) => process.stderr.write(`${line}\n`);

// A reader that went away (`genesys-cloud-emulator | head -1`) is no reason to crash with a stack: an
// unheard 'error' (EPIPE) would. The emulator keeps serving; Ctrl-C still stops it.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

/** Why the emulator could not start, in one line: a hint for the usual causes, never a stack. */
function describeStartFailure(error: unknown, host: string, port: number): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') {
    return `port ${port} on ${host} is in use (EADDRINUSE): stop the process using it, or choose another with --port (--port 0 picks a free one)`;
  }
  if (code === 'EACCES') return `not allowed to listen on port ${port} on ${host} (EACCES): choose a port above 1023 with --port`;
  return `cannot listen on ${host}:${port}: ${error instanceof Error ? error.message : String(error)}`;
}

async function main(): Promise<void> {
  let command: EmulatorCliCommand;
  try {
    command = parseEmulatorCliArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof EmulatorCliUsageError)) throw error;
    say(`${EMULATOR_CLI_NAME}: ${error.message}\nTry '${EMULATOR_CLI_NAME} --help'.`);
    process.exitCode = 2;
    return;
  }
  if (command.help) {
    process.stdout.write(EMULATOR_CLI_USAGE);
    return;
  }
  const { options } = command;

  let emulator: GenesysCloudEmulator | undefined;
  let stopping = false;
  const stop = () => {
    const deadline = setTimeout(() => {
      say(`${EMULATOR_CLI_NAME}: still closing after ${CLOSE_DEADLINE_MS} ms: exiting`);
      process.exit(1);
    }, CLOSE_DEADLINE_MS);
    deadline.unref();
    // close() drops every connection, keep-alive and hanging ones included, so this takes milliseconds.
    emulator!.close().then(
      () => process.exit(0),
      (error: unknown) => {
        say(`${EMULATOR_CLI_NAME}: closing failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  // Handlers before start-up, so a signal that comes while the port opens still ends in a clean close.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // Ctrl-C under `npm run`/`npx` reaches the process twice (from the terminal and forwarded): stop once.
      if (stopping) return;
      stopping = true;
      say(`${signal}: stopping the emulator`);
      if (emulator) stop(); // else start-up below stops it once it has started
    });
  }

  try {
    emulator = await GenesysCloudEmulator.start(options);
  } catch (error) {
    say(`${EMULATOR_CLI_NAME}: ${describeStartFailure(error, options.host, options.port)}`);
    process.exit(1); // not exitCode: a signal handler is installed, and nothing else is left to finish
  }
  if (stopping) return stop();

  // stdout holds only the KEY=value lines, so `genesys-cloud-emulator > .env.emulator` makes a usable file.
  process.stdout.write(`${emulatorEnvLines(emulator)}\n`);
  const others = emulator.clients.slice(1).map((client) => client.clientId);
  const rateLimit = emulator.apiRateLimit;
  say(
    `Genesys Cloud emulator listening on ${emulator.url} (tokens last ${emulator.tokenLifetimeSeconds} s` +
      `${rateLimit ? `; ${rateLimit.requestsPerToken} API requests per minute per token` : ''}` +
      `${others.length > 0 ? `; also accepts clients ${others.join(', ')}` : ''}); Ctrl-C to stop`,
  );
}

main().catch((error: unknown) => {
  say(`${EMULATOR_CLI_NAME}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

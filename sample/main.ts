import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createSampleApp, type SampleApp } from './bootstrap.js';
import { startPrometheusMetrics } from './metrics.js';

/** How long closing may take before the process exits anyway, so a stuck close cannot hold the port. */
const CLOSE_DEADLINE_MS = 10_000;

/** The port from `PORT` (default 3000; `0` picks a free one). Checked before anything starts. */
function portFromEnv(raw = process.env.PORT ?? '3000'): number {
  const port = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`PORT must be a whole number from 0 to 65535, not "${raw}"`);
  }
  return port;
}

/** Why start-up failed, in one line, with a hint for the usual cause. */
function describeFailure(error: unknown, port: number | undefined): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EADDRINUSE'
    ? `${message}: another process is using port ${port}; stop it or set PORT to another port`
    : message;
}

/** Closes the app, the emulator and the metrics server, giving up (exit code 1) after {@link CLOSE_DEADLINE_MS}. */
async function closeWithDeadline(closeAll: () => Promise<void>, logger: Logger): Promise<void> {
  const deadline = setTimeout(() => {
    logger.error(`Still closing after ${CLOSE_DEADLINE_MS} ms: exiting`);
    process.exit(1);
  }, CLOSE_DEADLINE_MS);
  deadline.unref(); // only a stuck close should meet it
  try {
    await closeAll();
  } finally {
    clearTimeout(deadline);
  }
}

async function main(): Promise<void> {
  const logger = new Logger('Sample');
  let port: number | undefined;
  let sample: SampleApp | undefined;
  let stopMetrics: (() => Promise<void>) | undefined;
  let closing: Promise<void> | undefined;
  let signalled = false;
  const closeAll = async () => {
    await sample?.close();
    await stopMetrics?.();
  };
  const close = () => (closing ??= closeWithDeadline(closeAll, logger));

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // Ctrl-C reaches the process twice under `npm run` (from the terminal and forwarded by npm): close once.
      if (signalled) return;
      signalled = true;
      logger.log(`${signal}: closing`);
      if (sample) void close(); // else start-up below is still creating it, and closes it when done
    });
  }

  try {
    port = portFromEnv();
    stopMetrics = await startPrometheusMetrics(logger);
    sample = await createSampleApp();
    if (signalled) return await close();
    const { app, mode, emulator } = sample;
    if (emulator) {
      logger.warn(
        `EMULATOR MODE: GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET are not set, so this sample talks to the local Genesys Cloud emulator at ${emulator.url}`,
      );
    } else {
      logger.log(`Talking to Genesys Cloud region ${process.env.GENESYSCLOUD_REGION ?? 'us-east-1'}`);
    }
    await app.listen(port, '127.0.0.1');
    if (signalled) return;
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    logger.log(`Sample (${mode}) listening on ${url}: try  curl ${url}/queues  and  curl ${url}/health`);
  } catch (error: unknown) {
    // Whatever failed, close what did start (the emulator's server would keep the process alive) and exit non-zero.
    logger.error(`Start-up failed: ${describeFailure(error, port)}`);
    process.exitCode = 1;
    await close();
  }
}

void main();

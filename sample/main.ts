import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createSampleApp } from './bootstrap.js';

async function main(): Promise<void> {
  const logger = new Logger('Sample');
  const { app, mode, emulator, close } = await createSampleApp();
  if (emulator) {
    logger.warn(
      `EMULATOR MODE: GENESYSCLOUD_OAUTHCLIENT_ID / GENESYSCLOUD_OAUTHCLIENT_SECRET are not set, so this sample talks to the local Genesys Cloud emulator at ${emulator.url}`,
    );
  } else {
    logger.log(`Talking to Genesys Cloud region ${process.env.GENESYSCLOUD_REGION ?? 'us-east-1'}`);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.log(`${signal}: closing`);
      void close();
    });
  }
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  logger.log(`Sample (${mode}) listening on ${url}: try  curl ${url}/queues  and  curl ${url}/health`);
}

main().catch((error: unknown) => {
  new Logger('Sample').error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});

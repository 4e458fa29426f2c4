import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';
import { AppModule } from './app.module.js';

/** The sample app and, in emulator mode, the emulator it talks to. */
export interface SampleApp {
  readonly app: INestApplication;
  readonly mode: 'genesys-cloud' | 'emulator';
  readonly emulator?: GenesysCloudEmulator;
  /** Closes the app, then the emulator (also when closing the app fails). */
  close(): Promise<void>;
}

/**
 * Creates the sample app. Without `GENESYSCLOUD_OAUTHCLIENT_ID` and `GENESYSCLOUD_OAUTHCLIENT_SECRET`
 * in the environment it starts the local emulator and points the app at it; otherwise it talks to Genesys Cloud.
 * If creating the app fails, the emulator is closed before the error is rethrown.
 */
export async function createSampleApp(
  logger: LoggerService | LogLevel[] | false = ['log', 'warn', 'error'],
): Promise<SampleApp> {
  const env = process.env;
  const hasCredentials = Boolean(env.GENESYSCLOUD_OAUTHCLIENT_ID && env.GENESYSCLOUD_OAUTHCLIENT_SECRET);
  const emulator = hasCredentials ? undefined : await GenesysCloudEmulator.start();
  if (emulator) {
    // ConfigService reads process.env: hand it the emulator's address and credentials.
    Object.assign(env, {
      GENESYSCLOUD_OAUTHCLIENT_ID: emulator.clientId,
      GENESYSCLOUD_OAUTHCLIENT_SECRET: emulator.clientSecret,
      GENESYSCLOUD_LOGIN_BASE_URL: emulator.loginBaseUrl,
      GENESYSCLOUD_API_BASE_URL: emulator.apiBaseUrl,
    });
  }
  let app: INestApplication;
  try {
    // abortOnError: false makes a failed start-up an error we can clean up after, not an immediate process.exit().
    app = await NestFactory.create(AppModule, { logger, abortOnError: false });
  } catch (error) {
    await emulator?.close();
    throw error;
  }
  return {
    app,
    mode: emulator ? 'emulator' : 'genesys-cloud',
    emulator,
    close: async () => {
      try {
        await app.close();
      } finally {
        await emulator?.close();
      }
    },
  };
}

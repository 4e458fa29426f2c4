import { Test } from '@nestjs/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { GenesysAuthModule, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator, type GenesysCloudEmulatorOptions } from 'nestjs-genesys-auth/testing';

/** A started Nest application context wired to a fresh emulator. */
export interface EmulatedApp {
  readonly app: INestApplicationContext;
  readonly emulator: GenesysCloudEmulator;
  close(): Promise<void>;
}

/** Boots `GenesysAuthModule.forRoot` against a new loopback emulator; tests close both with `close()`. */
export async function startEmulatedApp(
  options: Partial<GenesysAuthModuleOptions> = {},
  emulatorOptions: GenesysCloudEmulatorOptions = {},
): Promise<EmulatedApp> {
  const emulator = await GenesysCloudEmulator.start(emulatorOptions);
  const moduleRef = await Test.createTestingModule({
    imports: [
      GenesysAuthModule.forRoot({
        ...emulator.moduleOptions(),
        fetchTokenOnStartup: false,
        retry: { initialDelayMs: 20, maxDelayMs: 200 },
        ...options,
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  return {
    app,
    emulator,
    close: async () => {
      await app.close();
      await emulator.close();
    },
  };
}

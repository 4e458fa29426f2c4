import { inspect } from 'node:util';
import { Test } from '@nestjs/testing';
import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { GenesysAuthModule, type GenesysAuthModuleOptions } from 'nestjs-genesys-auth';
import { GenesysCloudEmulator, type GenesysCloudEmulatorOptions } from 'nestjs-genesys-auth/testing';

/** Keeps every line the app logs, at every level, so tests can search them for secrets. */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private keep(level: string, args: unknown[]): void {
    this.lines.push(`${level} ${args.map((arg) => (typeof arg === 'string' ? arg : inspect(arg, { depth: 6 }))).join(' ')}`);
  }
  log(...args: unknown[]) { this.keep('log', args); }
  error(...args: unknown[]) { this.keep('error', args); }
  warn(...args: unknown[]) { this.keep('warn', args); }
  debug(...args: unknown[]) { this.keep('debug', args); }
  verbose(...args: unknown[]) { this.keep('verbose', args); }
  fatal(...args: unknown[]) { this.keep('fatal', args); }
}

/** A started Nest application context wired to a fresh emulator. */
export interface EmulatedApp {
  readonly app: INestApplicationContext;
  readonly emulator: GenesysCloudEmulator;
  readonly logs: CapturingLogger;
  close(): Promise<void>;
}

/** Fast retries so that failure tests take milliseconds, not seconds. */
export const FAST_RETRY = { initialDelayMs: 20, maxDelayMs: 200 } as const;

/** Boots `GenesysAuthModule.forRoot` against a new loopback emulator; tests close both with `close()`. */
export async function startEmulatedApp(
  options: Partial<GenesysAuthModuleOptions> = {},
  emulatorOptions: GenesysCloudEmulatorOptions = {},
  extraImports: unknown[] = [],
  /** Sets the emulator up before the app starts (faults met by the start-up fetch, say). */
  beforeStart: (emulator: GenesysCloudEmulator) => void = () => undefined,
): Promise<EmulatedApp> {
  const emulator = await GenesysCloudEmulator.start(emulatorOptions);
  beforeStart(emulator);
  const logs = new CapturingLogger();
  const moduleRef = await Test.createTestingModule({
    imports: [
      GenesysAuthModule.forRoot({
        ...emulator.moduleOptions(),
        fetchTokenOnStartup: false,
        retry: FAST_RETRY,
        ...options,
      }),
      ...(extraImports as never[]),
    ],
  }).compile();
  moduleRef.useLogger(logs);
  const app = await moduleRef.init();
  return {
    app,
    emulator,
    logs,
    close: async () => {
      await app.close();
      await emulator.close();
    },
  };
}

/** Resolves after `ms` of real time. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Query, type INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  GenesysAuthError,
  GenesysAuthExceptionFilter,
  GenesysAuthModule,
  GenesysHttpService,
  type GenesysAuthErrorCode,
  type GenesysAuthModuleOptions,
} from 'nestjs-genesys-auth';
import { GenesysCloudEmulator } from 'nestjs-genesys-auth/testing';

@Controller()
class OrgController {
  constructor(private readonly genesys: GenesysHttpService) {}

  @Get('org')
  async org(): Promise<unknown> {
    return (await this.genesys.axiosRef.get('/api/v2/organizations/me')).data;
  }

  /** Throws the library's error as a handler would meet it, to pin the status of codes hard to provoke. */
  @Get('failing')
  failing(@Query('code') code: GenesysAuthErrorCode, @Query('retryAfterMs') retryAfterMs?: string): never {
    throw new GenesysAuthError(code, 'failed', retryAfterMs === undefined ? {} : { retryAfterMs: Number(retryAfterMs) });
  }
}

describe('GenesysAuthExceptionFilter', () => {
  let app: INestApplication | undefined;
  let emulator: GenesysCloudEmulator | undefined;
  afterEach(async () => {
    await app?.close();
    await emulator?.close();
    app = emulator = undefined;
  });

  const start = async (options: Partial<GenesysAuthModuleOptions>) => {
    emulator = await GenesysCloudEmulator.start({ apiRateLimit: false });
    const moduleRef = await Test.createTestingModule({
      imports: [GenesysAuthModule.forRoot({ ...emulator.moduleOptions(), fetchTokenOnStartup: false, retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 50 }, ...options })],
      controllers: [OrgController],
      providers: [{ provide: APP_FILTER, useClass: GenesysAuthExceptionFilter }],
    }).compile();
    moduleRef.useLogger(false);
    app = moduleRef.createNestApplication();
    await app.init();
    return app.getHttpServer() as Parameters<typeof request>[0];
  };

  it('answers 503 when Genesys refuses the credentials, naming the code and no secret', async () => {
    const server = await start({ clientSecret: 'a-wrong-secret-0123456789' });

    const response = await request(server).get('/org');

    expect(response.status).toBe(503);
    expect(response.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: expect.any(String), code: 'invalid_client' });
    expect(response.text).not.toContain('a-wrong-secret-0123456789');
  });

  it('answers 503 while login is unavailable', async () => {
    const server = await start({});
    emulator!.inject('token', { status: 503, body: 'down' });

    const response = await request(server).get('/org');

    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ code: 'unavailable' });
  });

  it('answers 503 with the Retry-After the error knows, in whole seconds', async () => {
    const server = await start({});

    const response = await request(server).get('/failing?code=unavailable&retryAfterMs=2500');

    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('3');
  });

  it('answers 503 during shutdown and 500 for invalid options, a bug of the service', async () => {
    const server = await start({});

    const shutdown = await request(server).get('/failing?code=shutdown');
    const invalid = await request(server).get('/failing?code=invalid_options');

    expect(shutdown.status).toBe(503);
    expect(invalid.status).toBe(500);
    expect(invalid.body).toMatchObject({ statusCode: 500, code: 'invalid_options' });
  });

  it('answers 429 with Retry-After when the request was held back for the rate limit', async () => {
    const server = await start({ rateLimit: { requestsPerToken: 1, windowMs: 10_000, maxWaitMs: 0 } });
    await request(server).get('/org').expect(200);

    const response = await request(server).get('/org');

    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(response.body).toMatchObject({ statusCode: 429, code: 'throttled' });
  });
});

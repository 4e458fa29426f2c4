import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { createSampleApp, type SampleApp } from '../sample/bootstrap.js';

describe('sample app in emulator mode', () => {
  let sample: SampleApp;

  beforeAll(async () => {
    delete process.env.GENESYSCLOUD_OAUTHCLIENT_ID;
    delete process.env.GENESYSCLOUD_OAUTHCLIENT_SECRET;
    sample = await createSampleApp(false);
    await sample.app.init();
  });
  afterAll(async () => {
    await sample.close();
  });

  it('starts the emulator when no credentials are set', () => {
    expect(sample.mode).toBe('emulator');
    expect(sample.emulator?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('lists routing queues through the signed client on GET /queues', async () => {
    const response = await request(sample.app.getHttpServer()).get('/queues?pageSize=10&pageNumber=2').expect(200);

    expect(response.body).toMatchObject({ pageNumber: 2, pageCount: 3, total: 30 });
    expect(response.body.queues).toHaveLength(10);
    expect(response.body.queues[0]).toEqual({ id: expect.any(String), name: 'Emulated queue 11' });
  });

  it('reports the token as up on GET /health, without the token or secret', async () => {
    const response = await request(sample.app.getHttpServer()).get('/health').expect(200);

    expect(response.body).toMatchObject({ status: 'ok', info: { genesys: { status: 'up', tokenStatus: 'valid' } } });
    expect(response.text).not.toContain(sample.emulator!.lastIssuedToken);
    expect(response.text).not.toContain(sample.emulator!.clientSecret);
  });
});

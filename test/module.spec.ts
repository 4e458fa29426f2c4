import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  GenesysAuthModule,
  GenesysHttpService,
  GenesysTokenService,
  type GenesysAuthModuleOptions,
  type GenesysAuthOptionsFactory,
} from 'nestjs-genesys-auth';

const options: GenesysAuthModuleOptions = { clientId: 'id', clientSecret: 'secret', region: 'eu-west-1', fetchTokenOnStartup: false };

@Injectable()
class OptionsFromClass implements GenesysAuthOptionsFactory {
  createGenesysAuthOptions(): GenesysAuthModuleOptions {
    return options;
  }
}

@Module({ providers: [OptionsFromClass], exports: [OptionsFromClass] })
class OptionsModule {}

@Injectable()
class FeatureService {
  constructor(readonly genesys: GenesysHttpService) {}
}

@Module({ providers: [FeatureService] })
class FeatureModule {}

describe('GenesysAuthModule registration', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function boot(imports: unknown[]): Promise<INestApplicationContext> {
    const moduleRef = await Test.createTestingModule({ imports: imports as never[] }).compile();
    app = await moduleRef.init();
    return app;
  }

  it('forRoot provides a client whose baseURL is the region API origin', async () => {
    const ctx = await boot([GenesysAuthModule.forRoot(options)]);
    expect(ctx.get(GenesysHttpService).axiosRef.defaults.baseURL).toBe('https://api.mypurecloud.ie');
  });

  it('forRootAsync reads options from ConfigService with useFactory and inject', async () => {
    const ctx = await boot([
      ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ GENESYS_REGION: 'usw2' })] }),
      GenesysAuthModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ ...options, region: config.getOrThrow<string>('GENESYS_REGION') }),
      }),
    ]);
    expect(ctx.get(GenesysHttpService).axiosRef.defaults.baseURL).toBe('https://api.usw2.pure.cloud');
  });

  it('forRootAsync accepts useClass', async () => {
    const ctx = await boot([GenesysAuthModule.forRootAsync({ useClass: OptionsFromClass })]);
    expect(ctx.get(GenesysTokenService)).toBeInstanceOf(GenesysTokenService);
  });

  it('forRootAsync accepts useExisting', async () => {
    const ctx = await boot([GenesysAuthModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFromClass })]);
    expect(ctx.get(GenesysTokenService)).toBeInstanceOf(GenesysTokenService);
  });

  it('isGlobal makes the client injectable in modules that do not import it', async () => {
    const ctx = await boot([GenesysAuthModule.forRoot({ ...options, isGlobal: true }), FeatureModule]);
    expect(ctx.get(FeatureService).genesys).toBeInstanceOf(GenesysHttpService);
  });

  it('without isGlobal, a module that does not import it cannot inject the client', async () => {
    await expect(boot([GenesysAuthModule.forRoot(options), FeatureModule])).rejects.toThrow(/GenesysHttpService/);
  });

  it('fails at start-up naming the bad option, without the secret', async () => {
    const failure = await boot([GenesysAuthModule.forRoot({ ...options, clientSecret: 'hidden-secret-xyz', region: 'atlantis' })]).then(
      () => new Error('expected start-up to fail'),
      (error: unknown) => error as Error,
    );
    expect(failure.message).toContain('"region"');
    expect(failure.message).not.toContain('hidden-secret-xyz');
  });

  it('gives GenesysHttpService its own axios instance, never the global default', async () => {
    const axios = (await import('axios')).default;
    const ctx = await boot([GenesysAuthModule.forRoot(options)]);
    expect(ctx.get(GenesysHttpService).axiosRef).not.toBe(axios);
    expect(axios.interceptors.request.handlers?.length ?? 0).toBe(0);
  });
});

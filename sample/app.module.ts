import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { GenesysAuthModule } from 'nestjs-genesys-auth';
import { GenesysAuthHealthIndicator } from 'nestjs-genesys-auth/health';
import { genesysOptionsFromConfig } from './genesys.config.js';
import { HealthController } from './health.controller.js';
import { QueuesController } from './queues.controller.js';
import { QueuesService } from './queues.service.js';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    ScheduleModule.forRoot(),
    TerminusModule,
    GenesysAuthModule.forRootAsync({
      isGlobal: true,
      inject: [ConfigService],
      useFactory: genesysOptionsFromConfig,
    }),
  ],
  controllers: [QueuesController, HealthController],
  providers: [QueuesService, GenesysAuthHealthIndicator],
})
export class AppModule {}

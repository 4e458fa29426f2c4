import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader, type CollectionResult } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  GenesysAuthModule,
  GenesysClientRegistry,
  GenesysHttpService,
  GenesysTokenService,
  type GenesysAuthModuleOptions,
  type GenesysClientRegistryOptions,
} from 'nestjs-genesys-auth';
import type { GenesysCloudEmulatorOptions } from 'nestjs-genesys-auth/testing';
import { startEmulatedApp, type EmulatedApp } from './support/app.js';

/** Collects on demand, as the OpenTelemetry SDK's own tests do. */
class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Point {
  readonly attributes: Record<string, unknown>;
  readonly value: unknown;
}

const ORG_ME = '/api/v2/organizations/me';
const SECRET = 'telemetry-secret-Zx81';

describe('OpenTelemetry metrics and traces', () => {
  const spans = new InMemorySpanExporter();
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  let running: EmulatedApp | undefined;

  beforeAll(() => {
    // Registered before any client is created, as an app's main.ts does.
    context.setGlobalContextManager(contextManager);
    metrics.setGlobalMeterProvider(meterProvider);
    trace.setGlobalTracerProvider(tracerProvider);
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
    await tracerProvider.forceFlush();
    spans.reset();
  });
  afterAll(async () => {
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    metrics.disable();
    trace.disable();
    context.disable();
  });

  const start = async (options: Partial<GenesysAuthModuleOptions> = {}, emulator: GenesysCloudEmulatorOptions = {}) => {
    running = await startEmulatedApp({ clientSecret: SECRET, ...options, name: 'emea' } as Partial<GenesysAuthModuleOptions>, {
      clientSecret: SECRET,
      ...emulator,
    });
    return {
      genesys: running.app.get<GenesysHttpService>('nestjs-genesys-auth:http:emea'),
      tokens: running.app.get<GenesysTokenService>('nestjs-genesys-auth:tokens:emea'),
    };
  };

  /** Every data point of `name` so far whose attributes include `where`. */
  async function points(name: string, where: Record<string, unknown> = {}): Promise<Point[]> {
    const { resourceMetrics } = (await reader.collect()) as CollectionResult;
    return resourceMetrics.scopeMetrics
      .filter((scope) => scope.scope.name === 'nestjs-genesys-auth')
      .flatMap((scope) => scope.metrics)
      .filter((metric) => metric.descriptor.name === name)
      .flatMap((metric) => metric.dataPoints as unknown as Point[])
      .filter((point) => Object.entries(where).every(([key, value]) => point.attributes[key] === value));
  }

  /** Spans ended so far (the SDK exports them asynchronously). */
  async function finishedSpans(): Promise<ReadableSpan[]> {
    await tracerProvider.forceFlush();
    return spans.getFinishedSpans();
  }

  /** An app with the unnamed registration and a registry; each key gets a client that makes one API call. */
  async function callThroughRegistry(keys: string[], registryOptions: GenesysClientRegistryOptions = {}): Promise<void> {
    running = await startEmulatedApp({}, {}, [GenesysAuthModule.forRegistry(registryOptions)]);
    countedBeforeCalls = await requestsCountedByClient();
    const registry = running.app.get(GenesysClientRegistry);
    await running.app.get(GenesysHttpService).axiosRef.get(ORG_ME);
    for (const key of keys) await (await registry.get(key, running.emulator.moduleOptions())).http.axiosRef.get(ORG_ME);
  }

  /** The `genesys.client` values of this app's API call durations and spans. */
  async function clientLabels(): Promise<{ metrics: Set<unknown>; spans: Set<unknown> }> {
    const counted = await requestsCountedByClient();
    return {
      metrics: new Set([...counted].filter(([client, count]) => count > (countedBeforeCalls.get(client) ?? 0)).map(([client]) => client)),
      spans: new Set((await finishedSpans()).map((span) => span.attributes['genesys.client'])),
    };
  }

  /**
   * Requests timed so far per `genesys.client` on the running emulator's port. Points add up over the file:
   * an earlier test's emulator may have had the same port, so a label counts only where its count grew.
   */
  async function requestsCountedByClient(): Promise<Map<unknown, number>> {
    const port = Number(new URL(running!.emulator.url).port);
    const counted = new Map<unknown, number>();
    for (const point of await points('http.client.request.duration', { 'server.port': port })) {
      const client = point.attributes['genesys.client'];
      counted.set(client, (counted.get(client) ?? 0) + (point.value as { count: number }).count);
    }
    return counted;
  }
  let countedBeforeCalls = new Map<unknown, number>();

  const total = async (name: string, where: Record<string, unknown> = {}) =>
    (await points(name, where)).reduce((sum, point) => sum + (typeof point.value === 'number' ? point.value : (point.value as { count: number }).count), 0);

  it('counts and times a token fetch, with a POST span on the token URL as a child of the caller’s span', async () => {
    const { tokens } = await start();
    const before = await total('genesys.oauth.token.requests', { 'genesys.client': 'emea', outcome: 'success' });
    const parent = trace.getTracer('test').startSpan('caller');

    await context.with(trace.setSpan(context.active(), parent), () => tokens.getToken());
    parent.end();

    expect(await total('genesys.oauth.token.requests', { 'genesys.client': 'emea', outcome: 'success' })).toBe(before + 1);
    expect(await total('genesys.oauth.token.request.duration', { 'genesys.client': 'emea', outcome: 'success' })).toBeGreaterThanOrEqual(1);
    const tokenSpan = (await finishedSpans()).find((span) => span.name === 'POST')!;
    expect(tokenSpan.attributes).toMatchObject({ 'genesys.client': 'emea', 'http.request.method': 'POST', 'http.response.status_code': 200 });
    expect(tokenSpan.attributes['url.full']).toMatch(/\/oauth\/token$/);
    expect(tokenSpan.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });

  it('counts a refused credential as a failure with its error type', async () => {
    const { tokens } = await start({ clientSecret: 'not-the-secret' });

    await tokens.getToken().catch(() => undefined);

    expect(await total('genesys.oauth.token.requests', { 'genesys.client': 'emea', outcome: 'failure', 'error.type': 'invalid_client' })).toBeGreaterThanOrEqual(1);
    expect((await finishedSpans()).find((span) => span.name === 'POST')?.attributes['error.type']).toBe('invalid_client');
  });

  it('times each API call with the HTTP semantic conventions and a client span named for its method', async () => {
    const { genesys } = await start();

    await genesys.axiosRef.get(ORG_ME);

    const [point] = await points('http.client.request.duration', { 'genesys.client': 'emea', 'http.response.status_code': 200 });
    expect(point.attributes).toMatchObject({ 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': expect.any(Number) });
    const apiSpan = (await finishedSpans()).find((span) => span.name === 'GET')!;
    expect(apiSpan.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200, 'genesys.client': 'emea' });
    expect(apiSpan.attributes['url.full']).toMatch(/\/api\/v2\/organizations\/me$/);
  });

  it('counts a 401 renewal and marks the replay with http.request.resend_count', async () => {
    const { genesys } = await start({ unauthorizedRenewalIntervalMs: 0 });
    await genesys.axiosRef.get(ORG_ME);
    const before = await total('genesys.api.renewals', { 'genesys.client': 'emea', reason: 'unauthorized' });
    running!.emulator.revokeAllTokens();
    await tracerProvider.forceFlush();
    spans.reset();

    await genesys.axiosRef.get(ORG_ME);

    expect(await total('genesys.api.renewals', { 'genesys.client': 'emea', reason: 'unauthorized' })).toBe(before + 1);
    const attempts = (await finishedSpans()).filter((span) => span.name === 'GET');
    expect(attempts.map((span) => [span.attributes['http.response.status_code'], span.attributes['http.request.resend_count']])).toEqual([
      [401, undefined],
      [200, 1],
    ]);
    expect(attempts[0].attributes['error.type']).toBe('401');
  });

  it('times waits for budget and for Retry-After, and counts the 429s received', async () => {
    const { genesys } = await start({ rateLimit: { requestsPerToken: 2, windowMs: 300, maxWaitMs: 5_000 } }, { apiRateLimit: false });
    const rateLimitedBefore = await total('genesys.api.rate_limited', { 'genesys.client': 'emea' });

    await Promise.all(Array.from({ length: 3 }, () => genesys.axiosRef.get(ORG_ME))); // the third waits for budget
    running!.emulator.rateLimitApi(0.1, 1);
    await genesys.axiosRef.get(ORG_ME);

    expect(await total('genesys.api.rate_limit.wait.duration', { 'genesys.client': 'emea', reason: 'budget' })).toBeGreaterThanOrEqual(1);
    expect(await total('genesys.api.rate_limit.wait.duration', { 'genesys.client': 'emea', reason: 'retry_after' })).toBeGreaterThanOrEqual(1);
    expect(await total('genesys.api.rate_limited', { 'genesys.client': 'emea' })).toBe(rateLimitedBefore + 1);
  });

  it('observes the time left of each token of the pool', async () => {
    const { tokens } = await start({ tokenPool: { size: 2 } });
    await tokens.getToken();

    const [slot0] = await points('genesys.oauth.token.time_to_expiry', { 'genesys.client': 'emea', 'genesys.token.slot': 0 });

    expect(slot0.value).toBeGreaterThan(86_000);
  });

  it('adds the client id only when telemetry.includeClientId is on', async () => {
    const { genesys } = await start({ telemetry: { includeClientId: true } });
    await genesys.axiosRef.get(ORG_ME);

    const finished = await finishedSpans();
    expect(finished.length).toBeGreaterThan(0);
    expect(finished.every((span) => span.attributes['genesys.client.id'] === running!.emulator.clientId)).toBe(true);
  });

  it('labels every registry client genesys.client=registry, so 50 keys make one series, while the unnamed registration keeps default', async () => {
    await callThroughRegistry(Array.from({ length: 50 }, (_, index) => `tenant-${index}`));

    const labels = await clientLabels();

    expect(labels.metrics).toEqual(new Set(['default', 'registry']));
    expect(labels.spans).toEqual(new Set(['default', 'registry']));
  });

  it('labels registry clients with what telemetryClientName maps their key to, and registry where it maps to nothing', async () => {
    await callThroughRegistry(['gold-1', 'gold-2', 'tenant-3'], { telemetryClientName: (key) => (key.startsWith('gold-') ? 'gold' : undefined) });

    const labels = await clientLabels();

    expect(labels.metrics).toEqual(new Set(['default', 'gold', 'registry']));
    expect(labels.spans).toEqual(new Set(['default', 'gold', 'registry']));
  });

  it('puts no token and no secret in any metric or span', async () => {
    const { genesys } = await start({ unauthorizedRenewalIntervalMs: 0 });
    await genesys.axiosRef.get(ORG_ME);
    running!.emulator.revokeAllTokens();
    await genesys.axiosRef.get(`${ORG_ME}?q=1`);
    running!.emulator.inject('api', { status: 500 }, 1);
    await genesys.axiosRef.get(ORG_ME).catch(() => undefined);

    const everything = inspect(
      { metrics: await reader.collect(), spans: (await finishedSpans()).map((span: ReadableSpan) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status })) },
      { depth: 20 },
    );
    for (const secret of [SECRET, ...running!.emulator.issuedTokens]) expect(everything).not.toContain(secret);
    expect(everything).toContain('genesys.client');
  });
});

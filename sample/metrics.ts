import type { Logger } from '@nestjs/common';

/**
 * With `METRICS_PORT` set, serves this app's OpenTelemetry metrics (the library's among them) for
 * Prometheus on `http://127.0.0.1:<port>/metrics`. It must run before the app is created: the library's
 * clients take the meter provider that is registered when they are built.
 * Returns how to stop it, or `undefined` when metrics are off.
 */
export async function startPrometheusMetrics(logger: Logger): Promise<(() => Promise<void>) | undefined> {
  const raw = process.env.METRICS_PORT;
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`METRICS_PORT must be a whole number from 0 to 65535, not "${raw}"`);
  const [{ metrics }, { MeterProvider }, { PrometheusExporter }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-prometheus'),
  ]);
  const exporter = new PrometheusExporter({ host: '127.0.0.1', port, preventServerStart: true });
  await exporter.startServer();
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  logger.log(`Prometheus metrics on http://127.0.0.1:${port}/metrics`);
  return async () => {
    await provider.shutdown(); // also stops the exporter's server
    metrics.disable();
  };
}

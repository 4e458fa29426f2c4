import type * as OpenTelemetry from '@opentelemetry/api';
import type { Attributes, Counter, Histogram, ObservableCallback, ObservableGauge, Span } from '@opentelemetry/api';
import type { GenesysAuthError } from './errors.js';

// `@opentelemetry/api` is an optional peer: only declarations this module does not export use its types, so that
// the published typings never name it (an app without it could not compile them with `skipLibCheck: false`).

/** Name of the meter and tracer; dashboards can filter on it. */
const INSTRUMENTATION_NAME = 'nestjs-genesys-auth';

/**
 * The `genesys.client` of registry clients, whatever their key: an attribute value per key would
 * create a series per tenant on every instrument, without bound (the SDK caps each at 2 000).
 */
export const REGISTRY_TELEMETRY_CLIENT = 'registry';

/** Bucket boundaries (seconds) the OpenTelemetry HTTP semantic conventions advise for request durations. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** The `@opentelemetry/api` module. */
type Api = typeof OpenTelemetry;

/**
 * Creates the telemetry of one client, on the app's global meter and tracer providers. `client`, the
 * `genesys.client` of every metric and span, must come from a small, fixed set: the registration name,
 * or {@link REGISTRY_TELEMETRY_CLIENT} (or the app's own label) for a registry client. The client id is
 * added only when `clientId` is given (the user opted in).
 */
export type ClientTelemetryFactory = (apiBaseUrl: string, client: string, clientId?: string) => ClientTelemetry;

let loading: Promise<ClientTelemetryFactory> | undefined;

/**
 * Loads `@opentelemetry/api` if the app has it (an optional peer): once per process, and only when a
 * client is created. Without it every client gets {@link NO_TELEMETRY}.
 */
export function loadClientTelemetry(): Promise<ClientTelemetryFactory> {
  loading ??= import('@opentelemetry/api').then(
    // In the CommonJS build `import()` sees the package's ESM typings and the type imports above its CJS ones:
    // one runtime module, two declarations (as with axios in own-axios.ts).
    (api): ClientTelemetryFactory => (apiBaseUrl, client, clientId) => createClientTelemetry(api as unknown as Api, apiBaseUrl, client, clientId),
    (): ClientTelemetryFactory => () => NO_TELEMETRY,
  );
  return loading;
}

/** What a client reports, without knowing whether anything listens. Nothing here ever carries a token or a secret. */
export interface ClientTelemetry {
  /** Times one token request (and its retries are separate calls), with a span as a child of the caller's context. */
  tokenRequest<T>(tokenUrl: string, request: () => Promise<T>): Promise<T>;
  /** Starts one API attempt (a span and a duration); `resendCount` > 0 on replays after 401 or 429. `url` is read only when a span records. */
  apiAttempt(method: string, url: () => string, resendCount: number): ApiAttempt;
  /** A wait before sending: for budget, or for a 429's `Retry-After`. */
  rateLimitWait(reason: 'budget' | 'retry_after', waitedMs: number): void;
  /** A 429 received from the API. */
  rateLimited(): void;
  /** A token renewed because the API answered 401. */
  renewal(): void;
  /** Reports the seconds left of each token of the pool, while the client lives. */
  observeTokenLifetimes(secondsLeft: () => (number | undefined)[]): void;
  /** Stops observing; called when the client closes. */
  close(): void;
}

/** One API attempt in progress. */
export interface ApiAttempt {
  /** Ends it with the response status, or the error's type when there was no response. */
  end(outcome: { status?: number; errorType?: string }): void;
}

const NO_ATTEMPT: ApiAttempt = { end: () => undefined };

/** Telemetry that records nothing: without `@opentelemetry/api`, or in unit tests. */
export const NO_TELEMETRY: ClientTelemetry = {
  tokenRequest: (_url, request) => request(),
  apiAttempt: () => NO_ATTEMPT,
  rateLimitWait: () => undefined,
  rateLimited: () => undefined,
  renewal: () => undefined,
  observeTokenLifetimes: () => undefined,
  close: () => undefined,
};

/** The instruments of one meter, created once per meter (a meter provider may be replaced, e.g. between tests). */
interface Instruments {
  readonly tokenRequests: Counter;
  readonly tokenRequestDuration: Histogram;
  readonly timeToExpiry: ObservableGauge;
  readonly renewals: Counter;
  readonly rateLimitWait: Histogram;
  readonly rateLimited: Counter;
  readonly httpDuration: Histogram;
}

const instrumentsByMeter = new WeakMap<object, Instruments>();

function instrumentsOf(meter: OpenTelemetry.Meter): Instruments {
  let instruments = instrumentsByMeter.get(meter);
  if (!instruments) {
    const seconds = (description: string, buckets?: number[]) => ({
      description,
      unit: 's',
      ...(buckets ? { advice: { explicitBucketBoundaries: buckets } } : {}),
    });
    instruments = {
      tokenRequests: meter.createCounter('genesys.oauth.token.requests', { description: 'Token requests to the Genesys login endpoint', unit: '{request}' }),
      tokenRequestDuration: meter.createHistogram('genesys.oauth.token.request.duration', seconds('Duration of token requests', DURATION_BUCKETS)),
      timeToExpiry: meter.createObservableGauge('genesys.oauth.token.time_to_expiry', seconds('Time left before each held token expires')),
      renewals: meter.createCounter('genesys.api.renewals', { description: 'Tokens renewed because the API answered 401', unit: '{renewal}' }),
      rateLimitWait: meter.createHistogram('genesys.api.rate_limit.wait.duration', seconds('Time API requests waited for rate budget or a Retry-After', DURATION_BUCKETS)),
      rateLimited: meter.createCounter('genesys.api.rate_limited', { description: '429 answers received from the API', unit: '{response}' }),
      httpDuration: meter.createHistogram('http.client.request.duration', seconds('Duration of HTTP client requests', DURATION_BUCKETS)),
    };
    instrumentsByMeter.set(meter, instruments);
  }
  return instruments;
}

/** Where a URL goes, as the HTTP semantic conventions name it. */
function serverAttributes(url: string): Attributes {
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
    return { 'server.address': parsed.hostname, 'server.port': port };
  } catch {
    return {};
  }
}

/** The URL without user info, query or fragment: the path is enough to tell calls apart, and nothing secret rides along. */
function safeUrl(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return undefined;
  }
}

/**
 * Whether the app has registered an OpenTelemetry SDK (a meter or a tracer provider). Without one,
 * clients record nothing at all, rather than building attributes for no-op instruments on every request.
 */
function sdkRegistered(api: Api): boolean {
  const meterIsNoop = Object.getPrototypeOf(api.metrics.getMeter(INSTRUMENTATION_NAME)) === Object.getPrototypeOf(api.createNoopMeter());
  const tracerProvider = api.trace.getTracerProvider();
  const delegate = tracerProvider instanceof api.ProxyTracerProvider ? tracerProvider.getDelegate() : tracerProvider;
  return !meterIsNoop || delegate.constructor.name !== 'NoopTracerProvider';
}

/** Telemetry of one client (see {@link ClientTelemetryFactory}); nothing at all until the app registers an OpenTelemetry SDK. */
function createClientTelemetry(api: Api, apiBaseUrl: string, client: string, clientId?: string): ClientTelemetry {
  if (!sdkRegistered(api)) return NO_TELEMETRY;
  const { SpanKind, SpanStatusCode, context, trace, metrics } = api;
  const instruments = instrumentsOf(metrics.getMeter(INSTRUMENTATION_NAME));
  const tracer = trace.getTracer(INSTRUMENTATION_NAME);
  const base: Attributes = { 'genesys.client': client, ...(clientId === undefined ? {} : { 'genesys.client.id': clientId }) };
  let observer: ObservableCallback | undefined;
  // Signed requests only ever go to the API origin: its attributes are worked out once.
  const apiServer = serverAttributes(apiBaseUrl);

  const endSpan = (span: Span, errorType: string | undefined) => {
    if (errorType !== undefined) {
      span.setAttribute('error.type', errorType);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };

  return {
    async tokenRequest(tokenUrl, request) {
      const span = tracer.startSpan(
        'POST',
        {
          kind: SpanKind.CLIENT,
          attributes: { ...base, 'http.request.method': 'POST', 'url.full': safeUrl(tokenUrl), ...serverAttributes(tokenUrl) },
        },
        context.active(),
      );
      const started = performance.now();
      const finish = (error?: GenesysAuthError) => {
        const outcome = error ? 'failure' : 'success';
        instruments.tokenRequests.add(1, { ...base, outcome, ...(error ? { 'error.type': error.code } : {}) });
        instruments.tokenRequestDuration.record((performance.now() - started) / 1000, { ...base, outcome });
        if (error?.status !== undefined) span.setAttribute('http.response.status_code', error.status);
        endSpan(span, error?.code);
      };
      try {
        const result = await request();
        span.setAttribute('http.response.status_code', 200);
        finish();
        return result;
      } catch (error) {
        finish(error as GenesysAuthError);
        throw error;
      }
    },

    apiAttempt(method, url, resendCount) {
      const httpMethod = method.toUpperCase();
      const attributes: Attributes = { ...base, 'http.request.method': httpMethod, ...apiServer };
      const span = tracer.startSpan(
        httpMethod,
        { kind: SpanKind.CLIENT, attributes: resendCount > 0 ? { ...attributes, 'http.request.resend_count': resendCount } : attributes },
        context.active(),
      );
      if (span.isRecording()) span.setAttribute('url.full', safeUrl(url()) ?? '');
      const started = performance.now();
      return {
        end({ status, errorType }) {
          const type = errorType ?? (status !== undefined && status >= 400 ? String(status) : undefined);
          const result: Attributes = {
            ...attributes,
            ...(status === undefined ? {} : { 'http.response.status_code': status }),
            ...(type === undefined ? {} : { 'error.type': type }),
          };
          instruments.httpDuration.record((performance.now() - started) / 1000, result);
          if (status !== undefined) span.setAttribute('http.response.status_code', status);
          endSpan(span, type);
        },
      };
    },

    rateLimitWait(reason, waitedMs) {
      instruments.rateLimitWait.record(waitedMs / 1000, { ...base, reason });
    },

    rateLimited() {
      instruments.rateLimited.add(1, base);
    },

    renewal() {
      instruments.renewals.add(1, { ...base, reason: 'unauthorized' });
    },

    observeTokenLifetimes(secondsLeft) {
      observer = (result) => {
        secondsLeft().forEach((seconds, slot) => {
          if (seconds !== undefined) result.observe(seconds, { ...base, 'genesys.token.slot': slot });
        });
      };
      instruments.timeToExpiry.addCallback(observer);
    },

    close() {
      if (observer) instruments.timeToExpiry.removeCallback(observer);
      observer = undefined;
    },
  };
}

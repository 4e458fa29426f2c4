import { Catch, Injectable, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { GenesysAuthError, type GenesysAuthErrorCode } from './errors.js';

/** What a caller of the app is told for one kind of failure: never the library's own message (it names hosts and options). */
interface CallerAnswer {
  readonly statusCode: number;
  readonly error: string;
  readonly message: string;
}

const UNAVAILABLE: CallerAnswer = { statusCode: 503, error: 'Service Unavailable', message: 'Genesys Cloud is unavailable right now; try again later' };
const MISCONFIGURED: CallerAnswer = { statusCode: 503, error: 'Service Unavailable', message: 'Genesys Cloud refused this service’s credentials' };

/**
 * The status a caller of the app should see for each failure. Nothing the caller did caused any of
 * them, so none is a 4xx but `throttled`: the app holds its request back to stay within Genesys' rate
 * limit, and the caller may try again after `Retry-After`. Outages, timeouts and refused credentials
 * are the service's trouble (503); an invalid configuration is a bug (500).
 */
const ANSWERS: Record<GenesysAuthErrorCode, CallerAnswer> = {
  throttled: { statusCode: 429, error: 'Too Many Requests', message: 'Too many requests to Genesys Cloud; try again later' },
  rate_limited: UNAVAILABLE,
  unavailable: UNAVAILABLE,
  timeout: UNAVAILABLE,
  bad_response: UNAVAILABLE,
  shutdown: { statusCode: 503, error: 'Service Unavailable', message: 'The service is shutting down' },
  invalid_client: MISCONFIGURED,
  unauthorized_client: MISCONFIGURED,
  invalid_scope: MISCONFIGURED,
  rejected: MISCONFIGURED,
  rejected_by_api: MISCONFIGURED,
  invalid_options: { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' },
};

/** `Retry-After` for a `throttled` error that carries no delay of its own, in seconds. */
const DEFAULT_THROTTLED_RETRY_AFTER_SECONDS = 1;

/**
 * Turns a {@link GenesysAuthError} reaching an HTTP handler into the answer a caller of the app should
 * see instead of a 500: `throttled` → 429 with `Retry-After`; login or API unavailable, timeouts,
 * refused credentials, `rejected_by_api` and shutdown → 503 (with `Retry-After` when the error knows
 * one); `invalid_options` → 500. The body is `{ statusCode, error, message, code }` with a fixed,
 * secret-free message; the library's own message (hosts, options) goes to the log only when you log it.
 * HTTP only: in other contexts (microservices, websockets) the error is passed on as it is.
 *
 * @example
 * // app.module.ts
 * providers: [{ provide: APP_FILTER, useClass: GenesysAuthExceptionFilter }]
 * // or main.ts
 * app.useGlobalFilters(new GenesysAuthExceptionFilter(app.get(HttpAdapterHost)));
 */
@Injectable()
@Catch(GenesysAuthError)
export class GenesysAuthExceptionFilter implements ExceptionFilter<GenesysAuthError> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: GenesysAuthError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const { httpAdapter } = this.adapterHost;
    const response: unknown = host.switchToHttp().getResponse();
    const answer = ANSWERS[error.code] ?? UNAVAILABLE;
    const retryAfterSeconds = error.retryAfterMs !== undefined ? Math.ceil(error.retryAfterMs / 1000) : error.code === 'throttled' ? DEFAULT_THROTTLED_RETRY_AFTER_SECONDS : undefined;
    if (retryAfterSeconds !== undefined) httpAdapter.setHeader(response, 'Retry-After', String(Math.max(1, retryAfterSeconds)));
    httpAdapter.reply(response, { ...answer, code: error.code }, answer.statusCode);
  }
}

/**
 * Why a Genesys authentication step failed. Each code tells the caller what to do next:
 * - `invalid_options`: the module options are wrong; fix the configuration.
 * - `invalid_client` / `unauthorized_client` / `invalid_scope`: Genesys refused the credentials or scopes; not retried.
 * - `rejected`: the token endpoint refused the request for another reason (another 4xx or a redirect, e.g. a wrong `loginBaseUrl`); not retried.
 * - `rate_limited`: the token endpoint asked us to slow down; retried with backoff.
 * - `unavailable`: 5xx, refused or reset connections; retried with backoff. Also a registry's `resolveOptions` that failed or did not answer in time.
 * - `timeout`: the token endpoint did not answer in time; retried with backoff.
 * - `bad_response`: the token endpoint answered with something that is not a usable token; retried with backoff.
 * - `throttled`: the library held an API request back (rate budget or a 429 cool-down) longer than
 *   `rateLimit.maxWaitMs`, or `rateLimit.maxQueued` requests were already waiting; the request was never sent.
 * - `rejected_by_api`: the API refuses this client's freshly obtained tokens (401) and no renewal is
 *   allowed yet (see `unauthorizedRenewalIntervalMs`); the request was not sent. Check the OAuth client's roles and state.
 * - `shutdown`: the application is closing; no token will come.
 */
export type GenesysAuthErrorCode =
  | 'invalid_options'
  | 'invalid_client'
  | 'unauthorized_client'
  | 'invalid_scope'
  | 'rejected'
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'bad_response'
  | 'throttled'
  | 'rejected_by_api'
  | 'shutdown';

const RETRYABLE_CODES: ReadonlySet<GenesysAuthErrorCode> = new Set([
  'rate_limited',
  'unavailable',
  'timeout',
  'bad_response',
  'throttled',
]);

/** Details carried by a {@link GenesysAuthError}. None of them ever holds a secret or a token. */
export interface GenesysAuthErrorDetails {
  /** HTTP status of the token endpoint's answer, when there was one. */
  readonly status?: number;
  /** Genesys' `error` field, e.g. `invalid_client`. */
  readonly genesysError?: string;
  /** Genesys' `error_description` (or `description`) field. */
  readonly genesysErrorDescription?: string;
  /** How long the server asked us to wait before trying again, in milliseconds. */
  readonly retryAfterMs?: number;
}

/**
 * The one error type this library throws. Safe to log: its message and fields never contain the
 * client secret or an access token, and it holds no reference to the HTTP request that failed.
 */
export class GenesysAuthError extends Error implements GenesysAuthErrorDetails {
  override readonly name = 'GenesysAuthError';
  readonly status?: number;
  readonly genesysError?: string;
  readonly genesysErrorDescription?: string;
  readonly retryAfterMs?: number;

  constructor(
    /** What kind of failure this is; see {@link GenesysAuthErrorCode}. */
    readonly code: GenesysAuthErrorCode,
    message: string,
    details: GenesysAuthErrorDetails = {},
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
    Object.assign(this, withoutUndefined(details));
  }

  /**
   * A copy of this error for one caller, with this one as its `cause`: a failure shared by many
   * callers (one token request, one start-up attempt) reaches each as an error of its own, with
   * that caller's stack rather than the frames of whoever met the failure first.
   */
  forCaller(): GenesysAuthError {
    const { status, genesysError, genesysErrorDescription, retryAfterMs } = this;
    return new GenesysAuthError(this.code, this.message, { status, genesysError, genesysErrorDescription, retryAfterMs }, { cause: this });
  }

  /** Whether trying again later may succeed (outages, timeouts, rate limits), as opposed to a configuration problem. */
  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }

  /** A plain, secret-free description for logs and health output. */
  toJSON(): Record<string, unknown> {
    return withoutUndefined({
      name: this.name,
      code: this.code,
      message: this.message,
      status: this.status,
      genesysError: this.genesysError,
      genesysErrorDescription: this.genesysErrorDescription,
      retryAfterMs: this.retryAfterMs,
    });
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** What replaces a secret in any text or object the library hands out. */
export const REDACTED = '[REDACTED]';

/**
 * Replaces every occurrence of each secret in `text` with {@link REDACTED}.
 * Secrets shorter than 4 characters are ignored: they would blank out ordinary words.
 */
export function redactText(text: string, secrets: Iterable<string | undefined>): string {
  let result = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) result = result.split(secret).join(REDACTED);
  }
  return result;
}

/**
 * Constructors of the objects an AxiosError reaches that may hold request headers (follow-redirects'
 * RedirectableRequest reports itself as a Writable). Sockets, agents and buffers are not walked.
 */
const HEADER_HOLDERS = new Set(['Object', 'Array', 'AxiosHeaders', 'ClientRequest', 'Writable']);

function holdsHeaders(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || HEADER_HOLDERS.has((value as { constructor?: { name?: string } }).constructor?.name ?? '');
}

/**
 * Replaces each secret wherever it stands in `root` and the header-holding objects it reaches
 * (an AxiosError's `config`, `request`, `response.request`, raw header strings…). Returns `root`.
 */
export function redactDeep<T extends object>(root: T, secrets: readonly string[], maxDepth = 8): T {
  const searched = [...secrets]; // the list given may itself sit inside `root` and be redacted on the way
  const seen = new WeakSet<object>();
  const visit = (value: object, depth: number): void => {
    if (seen.has(value) || depth > maxDepth) return;
    seen.add(value);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (!descriptor || !('value' in descriptor)) continue; // getters are not read: they may have side effects
      const child: unknown = descriptor.value;
      if (typeof child === 'string') {
        const redacted = redactText(child, searched);
        if (redacted !== child && descriptor.writable) Reflect.set(value, key, redacted);
      } else if (typeof child === 'object' && child !== null && (depth === 0 || holdsHeaders(child))) {
        visit(child, depth + 1);
      }
    }
  };
  visit(root, 0);
  return root;
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * Makes an object that holds the secret or tokens (in its configuration, headers or token cache) show
 * only `summary()` to `util.inspect`, `console.log` and `JSON.stringify`, so that logging a service or
 * a client never prints a credential.
 */
export function inspectAs(target: object, summary: () => Record<string, unknown>): void {
  const describe = () => ({ ...summary() });
  Object.defineProperty(target, INSPECT, {
    configurable: true,
    value: (_depth: number, options: object, inspect: (value: unknown, options: object) => string) =>
      `${target.constructor.name} ${inspect(describe(), options)}`,
  });
  Object.defineProperty(target, 'toJSON', { configurable: true, value: describe });
}

/**
 * Makes an AxiosError safe to log while keeping it an AxiosError: the tokens are replaced by
 * {@link REDACTED} in its config, request and response; and `util.inspect` / `console.log` show a
 * summary instead of walking into sockets, through which other requests' headers are reachable.
 */
export function redactAxiosError<T extends AxiosErrorLike>(error: T, tokens: readonly string[]): T {
  if (tokens.length > 0) {
    redactDeep(error, tokens);
    withoutFetchRequest(error);
    if (error.response) withoutFetchRequest(error.response);
  }
  Object.defineProperty(error, INSPECT, {
    configurable: true,
    value: (_depth: number, options: object, inspect: (value: unknown, options: object) => string) =>
      `${error.stack ?? error.message}\n${inspect(summaryOf(error), options)}`,
  });
  return error;
}

/**
 * A fetch `Request` (axios' fetch adapter) keeps its headers where no redaction reaches them: in its
 * place, `holder.request` becomes its method and URL.
 */
function withoutFetchRequest(holder: { request?: unknown }): void {
  const { request } = holder;
  if (typeof Request === 'undefined' || !(request instanceof Request)) return;
  holder.request = { method: request.method, url: request.url };
}

/** The parts of an AxiosError this module reads; structural, so it does not tie errors.ts to axios' typings. */
export interface AxiosErrorLike extends Error {
  code?: string;
  status?: number;
  config?: { method?: string; baseURL?: string; url?: string; headers?: unknown };
  request?: unknown;
  response?: { status: number; statusText: string; headers: unknown; data: unknown; request?: unknown };
}

function summaryOf(error: AxiosErrorLike): Record<string, unknown> {
  const { config, response } = error;
  return {
    name: error.name,
    code: error.code,
    status: error.status ?? response?.status,
    config: config && { method: config.method, baseURL: config.baseURL, url: config.url, headers: config.headers },
    response: response && { status: response.status, statusText: response.statusText, headers: response.headers, data: response.data },
  };
}

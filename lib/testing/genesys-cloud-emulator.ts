import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FixedWindowLimiter } from './fixed-window-limiter.js';

/** One OAuth client the emulator accepts, and the organization it belongs to. */
export interface EmulatedClient {
  readonly clientId: string;
  readonly clientSecret: string;
  /** The organization's name, as `GET /api/v2/organizations/me` reports it. */
  readonly orgName: string;
  /** The organization's id. Default: a fixed UUID per position in `clients` (the first is today's single org id). */
  readonly orgId?: string;
}

/** Genesys' per-token API rate limit; see {@link GenesysCloudEmulatorOptions.apiRateLimit}. */
export interface ApiRateLimitOptions {
  /** API requests one token may make per window. Default `300`, Genesys' client-credentials limit. */
  readonly requestsPerToken?: number;
  /** Length of the window, in milliseconds. Default `60000`. */
  readonly windowMs?: number;
}

/** A limit on token requests per client; see {@link GenesysCloudEmulatorOptions.tokenRateLimit}. */
export interface TokenRateLimitOptions {
  /** Token requests one client may make per window. */
  readonly requests: number;
  /** Length of the window, in milliseconds. */
  readonly windowMs: number;
}

/** Options of {@link GenesysCloudEmulator.start}. */
export interface GenesysCloudEmulatorOptions {
  /** The only client id the token endpoint accepts, when `clients` is not given. Default `emulator-client-id`. */
  readonly clientId?: string;
  /** The only client secret the token endpoint accepts, when `clients` is not given. Default `emulator-client-secret`. */
  readonly clientSecret?: string;
  /**
   * Several OAuth clients, each in its own (or a shared) organization. Each issued token is bound to
   * the client that got it. Replaces `clientId`/`clientSecret`; giving both is an error.
   * Default: one client from `clientId`/`clientSecret` in organization "Emulated Org".
   */
  readonly clients?: readonly EmulatedClient[];
  /** `expires_in` of issued tokens, in seconds (fractions allowed). Default `86400`. */
  readonly tokenLifetimeSeconds?: number;
  /** Loopback address to listen on. Default `127.0.0.1`; anything but a loopback address is refused. */
  readonly host?: string;
  /** Port to listen on. Default `0`: any free port. */
  readonly port?: number;
  /** How many routing queues `GET /api/v2/routing/queues` pages through. Default `30`. */
  readonly queueCount?: number;
  /** How many users `GET /api/v2/users` pages through. Default `30`. */
  readonly userCount?: number;
  /**
   * Genesys' per-token API rate limit, on by default (300 requests per token per minute): a fixed
   * window per token, opened by the token's first API request; requests over the budget get `429`
   * with `Retry-After` (whole seconds to the window's end) and Genesys' body. Checked after the token
   * (so a bad token still gets 401). `false` turns it off. Settable at run time:
   * {@link GenesysCloudEmulator.apiRateLimit}.
   */
  readonly apiRateLimit?: ApiRateLimitOptions | false;
  /**
   * A limit on token requests, per client (a fixed window per client id, as Genesys limits each
   * OAuth client). Over it the token endpoint answers Genesys' `400 invalid_request` "rate limit
   * exceeded; try again later". Only requests with valid credentials count; bad ones still get
   * `invalid_client`. Default `false`: Genesys does not publish its limit. Settable at run time:
   * {@link GenesysCloudEmulator.tokenRateLimit}.
   */
  readonly tokenRateLimit?: TokenRateLimitOptions | false;
  /**
   * How long every answer takes, in milliseconds, on top of any fault's `delayMs`: a network's round
   * trip, so that requests overlap as they do against Genesys (on loopback an answer otherwise comes
   * before the next request is sent). Default `0`. Settable at run time: {@link GenesysCloudEmulator.latencyMs}.
   */
  readonly latencyMs?: number;
}

/** Which side of the emulator a fault applies to: the login host's token endpoint or the Platform API. */
export type EmulatorRoute = 'token' | 'api';

/** An API endpoint as `METHOD /path`, without query string, e.g. `GET /api/v2/routing/queues`. */
export type EmulatorEndpoint = `${string} /${string}`;

/**
 * A scripted misbehaviour. Fields combine: `delayMs` first, then `reset` (drop the connection),
 * `hang` (never answer) or `status` (answer with `status`, `headers` and `body`).
 */
export interface EmulatorFault {
  readonly delayMs?: number;
  readonly reset?: boolean;
  readonly hang?: boolean;
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or bytes are sent as they are; anything else as JSON. */
  readonly body?: unknown;
}

/** How long {@link GenesysCloudEmulator.rateLimitRoute} keeps a route limited, and what it tells callers. */
export interface RouteRateLimit {
  /** `Retry-After` sent with each 429. Default: the seconds left of `durationMs` (at least 1), or `1`. */
  readonly retryAfterSeconds?: number;
  /** How many requests get a 429 before the route recovers. Default: no count limit. */
  readonly times?: number;
  /** How long the route stays limited, in milliseconds. Default: until {@link GenesysCloudEmulator.clearFaults}. */
  readonly durationMs?: number;
}

/** One request the emulator received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** For API requests: the client whose token the request carried (also when expired or revoked); undefined when none or unknown. */
  readonly clientId?: string;
}

/**
 * Why the emulator answered a request as it did (see {@link EmulatorExchange.cause}):
 * - `served`: the endpoint's own answer: a token, an API body, `204` for a revocation, `404` for an unknown route;
 * - `fault`: a fault from {@link GenesysCloudEmulator.inject} or {@link GenesysCloudEmulator.rateLimitApi};
 * - `refused`: the token endpoint refused the request itself (credentials, grant type, method or content type);
 * - `token-rate-limit`: {@link GenesysCloudEmulatorOptions.tokenRateLimit}'s `400 invalid_request`;
 * - `unauthorized`: an API `401` for a missing, unknown, expired or revoked token;
 * - `client-mismatch`: an API `403` because `x-emulator-expect-client` named another client;
 * - `route-rate-limit`: a `429` from {@link GenesysCloudEmulator.rateLimitRoute};
 * - `api-rate-limit`: a `429` from the per-token limit ({@link GenesysCloudEmulatorOptions.apiRateLimit}).
 */
export type EmulatorAnswerCause =
  | 'served'
  | 'fault'
  | 'refused'
  | 'token-rate-limit'
  | 'unauthorized'
  | 'client-mismatch'
  | 'route-rate-limit'
  | 'api-rate-limit';

/**
 * One request and what the emulator did with it, as {@link GenesysCloudEmulator.onExchange} reports
 * it: enough to check, after the fact, when each request arrived, whose it was and how it ended.
 */
export interface EmulatorExchange {
  readonly route: EmulatorRoute;
  /** The request as recorded (headers included, so it carries the token or credentials it was sent with). */
  readonly request: RecordedRequest;
  /**
   * API requests: the client whose token the request carried (also when expired or revoked). Token
   * requests: the client id its credentials named, whether or not the secret was right. Undefined when none.
   */
  readonly clientId?: string;
  /** The status answered; undefined when the connection was dropped or left hanging. */
  readonly status?: number;
  /** Set when a fault dropped the connection (`reset`) or never answered (`hang`). */
  readonly dropped?: 'reset' | 'hang';
  readonly cause: EmulatorAnswerCause;
  /**
   * When the request arrived, in epoch milliseconds with a fraction (from `performance.now()`), so
   * that two events of the same millisecond keep their order.
   */
  readonly receivedAt: number;
  /** When the answer was sent, or the connection dropped or left hanging; like {@link receivedAt}. */
  readonly answeredAt: number;
}

/** What a request handler did: the status sent and why. */
interface Answer {
  readonly status: number;
  readonly cause: EmulatorAnswerCause;
}

/** Counters since start (or the last {@link GenesysCloudEmulator.resetStats}). */
export interface EmulatorStats {
  tokenRequests: number;
  /** Every API request seen, including those answered 401, 403 or 429. */
  apiRequests: number;
  tokensIssued: number;
  /** API calls answered 401 for a missing, unknown, expired or revoked token. */
  unauthorized: number;
  /** API 429s sent: from the per-token limit, {@link GenesysCloudEmulator.rateLimitRoute}, {@link GenesysCloudEmulator.rateLimitApi} and injected 429 faults. */
  rateLimited: number;
  /**
   * API 429s from the per-token limit only ({@link GenesysCloudEmulatorOptions.apiRateLimit}): a client
   * that paces itself to that limit keeps this at 0, whatever 429s were injected or route limits set.
   */
  budgetExceeded: number;
  /** Token requests refused by {@link GenesysCloudEmulatorOptions.tokenRateLimit}. */
  tokenRateLimited: number;
  /** API requests answered 403 because their `x-emulator-expect-client` header named another client than their token's. */
  clientMismatches: number;
  /** API requests served per client id (past authentication and rate limits; 401s, 403s and 429s are not served). */
  requestsByClient: Record<string, number>;
}

/** A client as the emulator keeps it, with the bodies of its `organizations/me` and `users/me`. */
interface ClientState {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly org: { readonly id: string; readonly name: string; readonly thirdPartyOrgName: string; readonly state: 'active' };
  readonly user: { readonly id: string; readonly name: string; readonly email: string };
}

interface IssuedToken {
  readonly client: ClientState;
  readonly expiresAt: number;
  revoked: boolean;
  /** API requests served with this token since the last stats reset. */
  served: number;
}

interface ActiveRouteLimit {
  readonly retryAfterSeconds?: number;
  readonly until: number;
  remaining: number;
}

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|::1|localhost)$/;
/** Requests kept in `tokenRequests` / `apiRequests`; older ones are dropped so long runs stay small. */
const RECORDED_LIMIT = 1000;
/** Header with which a test states which client's token an API request should carry. */
const EXPECT_CLIENT_HEADER = 'x-emulator-expect-client';
const DEFAULT_API_RATE_LIMIT: Required<ApiRateLimitOptions> = { requestsPerToken: 300, windowMs: 60_000 };

/**
 * A local server that plays Genesys Cloud well enough for tests and demos: `POST /oauth/token`
 * (client credentials, Basic or form, one or several clients), `GET /api/v2/organizations/me`,
 * `GET /api/v2/users/me`, `GET /api/v2/users` and `GET /api/v2/routing/queues` (paged),
 * `HEAD`/`DELETE /api/v2/tokens/me`; 401 on missing, expired or revoked tokens; Genesys' per-token
 * API rate limit (on by default), an optional token-endpoint limit and per-route 429s; and
 * scripted faults (status codes, `Retry-After`, delays, dropped or hanging connections).
 * Login and API share one origin. It listens on loopback only.
 *
 * To check that no request carried the wrong client's token, send the header
 * `x-emulator-expect-client: <clientId>`: a request whose token belongs to another client is
 * answered 403 `emulator.client.mismatch` and counted in {@link EmulatorStats.clientMismatches}.
 * To check what happened to every request over a long run (when, whose, how it ended and why), use
 * {@link GenesysCloudEmulator.onExchange}.
 *
 * @example
 * const emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: 2, apiRateLimit: false });
 * GenesysAuthModule.forRoot({ ...emulator.moduleOptions() });
 * emulator.inject('token', { status: 503 }, 3);
 * emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 2, times: 1 });
 * await emulator.close();
 */
export class GenesysCloudEmulator {
  /** Requests to the token endpoint, newest last (the last 1000). */
  readonly tokenRequests: RecordedRequest[] = [];
  /** Requests to the API, newest last (the last 1000). */
  readonly apiRequests: RecordedRequest[] = [];
  /** Counters; see {@link EmulatorStats}. */
  readonly stats: EmulatorStats;
  /** `expires_in` of tokens issued from now on, in seconds. */
  tokenLifetimeSeconds: number;
  /** How long every answer takes from now on, in milliseconds; see {@link GenesysCloudEmulatorOptions.latencyMs}. */
  latencyMs: number;
  /** The clients the token endpoint accepts, first one first, with their organization ids filled in. */
  readonly clients: readonly Required<EmulatedClient>[];
  /** The first client's id. */
  readonly clientId: string;
  /** The first client's secret. */
  readonly clientSecret: string;

  private readonly clientStates: ReadonlyMap<string, ClientState>;
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly faults: Record<EmulatorRoute, { fault: EmulatorFault; remaining: number }[]> = { token: [], api: [] };
  private readonly routeLimits = new Map<string, ActiveRouteLimit>();
  private readonly delays = new Set<NodeJS.Timeout>();
  private readonly exchangeListeners = new Set<(exchange: EmulatorExchange) => void>();
  private readonly queues: { id: string; name: string }[];
  private readonly users: { id: string; name: string; email: string }[];
  private apiLimiter?: FixedWindowLimiter<string>;
  private tokenLimiter?: FixedWindowLimiter<string>;
  private lastToken?: string;

  private constructor(
    private readonly server: Server,
    /** The emulator's origin, e.g. `http://127.0.0.1:41234`: both login and API base URL. */
    readonly url: string,
    options: GenesysCloudEmulatorOptions,
  ) {
    this.clients = clientsOf(options);
    this.clientStates = new Map(this.clients.map((client) => [client.clientId, clientState(client)]));
    this.clientId = this.clients[0].clientId;
    this.clientSecret = this.clients[0].clientSecret;
    this.stats = this.zeroStats();
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 86_400;
    this.latencyMs = options.latencyMs ?? 0;
    this.apiRateLimit = options.apiRateLimit ?? {};
    this.tokenRateLimit = options.tokenRateLimit ?? false;
    this.queues = Array.from({ length: options.queueCount ?? 30 }, (_, index) => ({
      id: randomUUID(),
      name: `Emulated queue ${String(index + 1).padStart(2, '0')}`,
    }));
    this.users = Array.from({ length: options.userCount ?? 30 }, (_, index) => {
      const number = String(index + 1).padStart(2, '0');
      return { id: randomUUID(), name: `Emulated user ${number}`, email: `user${number}@emulated.example` };
    });
  }

  /** Starts an emulator on a free loopback port. */
  static async start(options: GenesysCloudEmulatorOptions = {}): Promise<GenesysCloudEmulator> {
    const host = options.host ?? '127.0.0.1';
    if (!LOOPBACK.test(host)) throw new Error(`GenesysCloudEmulator listens on loopback only, not on "${host}"`);
    clientsOf(options); // refuse bad client lists before opening a port
    const server = createServer();
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const emulator = new GenesysCloudEmulator(server, `http://${host.includes(':') ? `[${host}]` : host}:${port}`, options);
    server.on('request', (request, response) => {
      emulator.handle(request, response).catch(() => response.destroy());
    });
    return emulator;
  }

  /** Login base URL to give the module (same as {@link url}). */
  get loginBaseUrl(): string {
    return this.url;
  }

  /** API base URL to give the module (same as {@link url}). */
  get apiBaseUrl(): string {
    return this.url;
  }

  /** The most recently issued access token (for tests that revoke it or search logs for it). */
  get lastIssuedToken(): string | undefined {
    return this.lastToken;
  }

  /** Every access token issued so far, oldest first (for tests that search output for tokens). */
  get issuedTokens(): readonly string[] {
    return [...this.tokens.keys()];
  }

  /**
   * The per-token API rate limit in force, or `false` when off. Assigning replaces it (missing
   * fields take their defaults) and starts every token's window afresh.
   */
  get apiRateLimit(): Readonly<Required<ApiRateLimitOptions>> | false {
    return this.apiLimiter ? { requestsPerToken: this.apiLimiter.limit, windowMs: this.apiLimiter.windowMs } : false;
  }

  set apiRateLimit(limit: ApiRateLimitOptions | false) {
    this.apiLimiter =
      limit === false
        ? undefined
        : new FixedWindowLimiter(limit.requestsPerToken ?? DEFAULT_API_RATE_LIMIT.requestsPerToken, limit.windowMs ?? DEFAULT_API_RATE_LIMIT.windowMs);
  }

  /** The per-client token-endpoint limit in force, or `false` when off. Assigning replaces it and starts every client's window afresh. */
  get tokenRateLimit(): Readonly<TokenRateLimitOptions> | false {
    return this.tokenLimiter ? { requests: this.tokenLimiter.limit, windowMs: this.tokenLimiter.windowMs } : false;
  }

  set tokenRateLimit(limit: TokenRateLimitOptions | false) {
    this.tokenLimiter = limit === false ? undefined : new FixedWindowLimiter(limit.requests, limit.windowMs);
  }

  /**
   * Options that point `GenesysAuthModule` at this emulator with one client's credentials.
   * @param clientId - Which client; default the first. An unknown id throws.
   */
  moduleOptions(clientId: string = this.clientId): { clientId: string; clientSecret: string; loginBaseUrl: string; apiBaseUrl: string } {
    const client = this.clientStates.get(clientId);
    if (!client) throw new Error(`GenesysCloudEmulator has no client "${clientId}"`);
    return { clientId, clientSecret: client.clientSecret, loginBaseUrl: this.url, apiBaseUrl: this.url };
  }

  /**
   * API requests served per token since start or the last {@link resetStats}, for tokens that served
   * at least one. A method rather than a field, so that tokens do not end up in logged objects.
   */
  requestsPerToken(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [token, issued] of this.tokens) if (issued.served > 0) counts.set(token, issued.served);
    return counts;
  }

  /**
   * Calls `listener` for each request once the emulator has answered it, dropped it or decided to
   * leave it hanging, with when it arrived, whose it was, the status and why
   * ({@link EmulatorExchange}). Unlike {@link tokenRequests} and {@link apiRequests}, nothing is kept
   * here, so a long run can keep its own log of every exchange. An error a listener throws is
   * reported as a process warning and does not affect the answer.
   * @returns A function that stops the calls to `listener`.
   *
   * @example
   * const stop = emulator.onExchange((exchange) => log.push(exchange));
   */
  onExchange(listener: (exchange: EmulatorExchange) => void): () => void {
    this.exchangeListeners.add(listener);
    return () => void this.exchangeListeners.delete(listener);
  }

  /** Makes the next `times` requests to `route` misbehave as `fault` describes (default: until {@link clearFaults}). */
  inject(route: EmulatorRoute, fault: EmulatorFault, times = Number.POSITIVE_INFINITY): this {
    this.faults[route].push({ fault, remaining: times });
    return this;
  }

  /** Answers the next `times` API calls with Genesys' 429 and `Retry-After: seconds`. */
  rateLimitApi(retryAfterSeconds: number, times = 1): this {
    return this.inject('api', { status: 429, ...tooManyRequests(retryAfterSeconds) }, times);
  }

  /**
   * Plays a per-resource limit: authenticated requests to `endpoint` get Genesys' 429 with
   * `Retry-After` until `times` requests have been refused or `durationMs` has passed (whichever
   * comes first; with neither, until {@link clearFaults}). Other endpoints are unaffected, and
   * refused requests do not use up their token's budget. Limiting an endpoint again replaces its limit.
   *
   * @example emulator.rateLimitRoute('GET /api/v2/routing/queues', { retryAfterSeconds: 2, times: 3 });
   */
  rateLimitRoute(endpoint: EmulatorEndpoint, limit: RouteRateLimit = {}): this {
    if (!/^[A-Z]+ \/\S*$/.test(endpoint)) throw new Error(`Expected "METHOD /path", got "${endpoint}"`);
    this.routeLimits.set(endpoint, {
      retryAfterSeconds: limit.retryAfterSeconds,
      until: Date.now() + (limit.durationMs ?? Number.POSITIVE_INFINITY),
      remaining: limit.times ?? Number.POSITIVE_INFINITY,
    });
    return this;
  }

  /** Removes every injected fault and every {@link rateLimitRoute} limit. */
  clearFaults(): this {
    this.faults.token.length = 0;
    this.faults.api.length = 0;
    this.routeLimits.clear();
    return this;
  }

  /** Revokes every token issued so far to `clientId` (default: to every client), as an admin deleting the client's tokens would. */
  revokeAllTokens(clientId?: string): void {
    for (const token of this.tokens.values()) if (clientId === undefined || token.client.clientId === clientId) token.revoked = true;
  }

  private zeroStats(): EmulatorStats {
    return {
      tokenRequests: 0,
      apiRequests: 0,
      tokensIssued: 0,
      unauthorized: 0,
      rateLimited: 0,
      budgetExceeded: 0,
      tokenRateLimited: 0,
      clientMismatches: 0,
      requestsByClient: this.zeroPerClient(),
    };
  }

  /** Zeroes the counters (including per client and per token) and forgets recorded requests. Rate-limit windows are kept. */
  resetStats(): void {
    Object.assign(this.stats, this.zeroStats());
    for (const token of this.tokens.values()) token.served = 0;
    this.tokenRequests.length = 0;
    this.apiRequests.length = 0;
  }

  /** Stops listening and drops every connection, including hanging ones. */
  async close(): Promise<void> {
    for (const delay of this.delays) clearTimeout(delay);
    this.delays.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const receivedAt = preciseNow();
    const body = await readBody(request);
    const url = new URL(request.url ?? '/', this.url);
    const route: EmulatorRoute = url.pathname === '/oauth/token' ? 'token' : 'api';
    const form = route === 'token' ? new URLSearchParams(body) : undefined;
    const clientId = form ? credentialsOf(request.headers.authorization, form)[0] : this.tokens.get(bearerOf(request) ?? '')?.client.clientId;
    const seen = { method: request.method ?? 'GET', path: url.pathname + url.search, headers: request.headers, body };
    const recorded: RecordedRequest = route === 'api' ? { ...seen, clientId } : seen;
    record(route === 'token' ? this.tokenRequests : this.apiRequests, recorded);
    this.stats[route === 'token' ? 'tokenRequests' : 'apiRequests']++;
    const report = (outcome: Pick<EmulatorExchange, 'status' | 'dropped' | 'cause'>) =>
      this.report({ route, request: recorded, clientId, receivedAt, answeredAt: preciseNow(), ...outcome });

    const fault = this.takeFault(route);
    const delayMs = this.latencyMs + (fault?.delayMs ?? 0);
    if (delayMs > 0) await this.sleep(delayMs);
    if (fault?.reset) {
      request.socket.destroy();
      return report({ dropped: 'reset', cause: 'fault' });
    }
    if (fault?.hang) return report({ dropped: 'hang', cause: 'fault' });
    if (response.destroyed) return; // the caller hung up during a delay: nothing was answered
    if (fault?.status !== undefined) {
      if (route === 'api' && fault.status === 429) this.stats.rateLimited++;
      send(response, fault.status, fault.body ?? '', fault.headers);
      return report({ status: fault.status, cause: 'fault' });
    }
    report(route === 'token' ? this.issueToken(request, body, response) : this.serveApi(request, url, response));
  }

  private report(exchange: EmulatorExchange): void {
    for (const listener of this.exchangeListeners) {
      try {
        listener(exchange);
      } catch (error) {
        process.emitWarning(`GenesysCloudEmulator: an onExchange listener threw: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  private takeFault(route: EmulatorRoute): EmulatorFault | undefined {
    const queue = this.faults[route];
    const next = queue.find((entry) => entry.remaining > 0);
    if (!next) return undefined;
    next.remaining--;
    if (next.remaining === 0) queue.splice(queue.indexOf(next), 1);
    return next.fault;
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.delays.delete(timer);
        resolve();
      }, delayMs);
      this.delays.add(timer);
    });
  }

  private issueToken(request: IncomingMessage, body: string, response: ServerResponse): Answer {
    const oauthError = (status: number, error: string, description: string, cause: EmulatorAnswerCause = 'refused') =>
      reply(response, cause, status, { error, description, error_description: description });
    if (request.method !== 'POST') return oauthError(405, 'invalid_request', 'method not allowed');
    if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return oauthError(400, 'invalid_request', 'content type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') return oauthError(400, 'unsupported_grant_type', 'grant type not supported');
    const [clientId, clientSecret] = credentialsOf(request.headers.authorization, form);
    const client = this.clientStates.get(clientId ?? '');
    if (!client || clientSecret !== client.clientSecret) return oauthError(400, 'invalid_client', 'authentication failed');
    // Per client, after authentication: only known clients get a window, so the limiter stays small.
    if (this.tokenLimiter?.take(client.clientId) !== undefined) {
      this.stats.tokenRateLimited++;
      return oauthError(400, 'invalid_request', 'rate limit exceeded; try again later', 'token-rate-limit');
    }
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, { client, expiresAt: Date.now() + this.tokenLifetimeSeconds * 1000, revoked: false, served: 0 });
    this.lastToken = accessToken;
    this.stats.tokensIssued++;
    return reply(response, 'served', 200, { access_token: accessToken, token_type: 'bearer', expires_in: this.tokenLifetimeSeconds });
  }

  private serveApi(request: IncomingMessage, url: URL, response: ServerResponse): Answer {
    const bearer = bearerOf(request);
    const token = bearer === undefined ? undefined : this.tokens.get(bearer);
    if (!bearer || !token || token.revoked || token.expiresAt <= Date.now()) {
      this.stats.unauthorized++;
      return reply(response, 'unauthorized', 401, { message: 'Authentication failed.', code: 'bad.credentials', status: 401 });
    }
    const { client } = token;
    const expectedClient = request.headers[EXPECT_CLIENT_HEADER];
    if (expectedClient !== undefined && expectedClient !== client.clientId) {
      this.stats.clientMismatches++;
      const message = `Token of client "${client.clientId}" sent where client "${String(expectedClient)}" was expected`;
      return reply(response, 'client-mismatch', 403, { message, code: 'emulator.client.mismatch', status: 403 });
    }
    const endpoint = `${request.method} ${url.pathname}`;
    // Per-resource limit first: a request it refuses does not use up the token's budget.
    const routeRetryAfter = this.routeRetryAfter(endpoint);
    const budgetRetryAfter = routeRetryAfter === undefined ? wholeSeconds(this.apiLimiter?.take(bearer)) : undefined;
    const retryAfterSeconds = routeRetryAfter ?? budgetRetryAfter;
    if (retryAfterSeconds !== undefined) {
      this.stats.rateLimited++;
      if (budgetRetryAfter !== undefined) this.stats.budgetExceeded++;
      const { headers, body } = tooManyRequests(retryAfterSeconds);
      return reply(response, budgetRetryAfter === undefined ? 'route-rate-limit' : 'api-rate-limit', 429, body, headers);
    }
    token.served++;
    this.stats.requestsByClient[client.clientId] = (this.stats.requestsByClient[client.clientId] ?? 0) + 1;

    switch (endpoint) {
      case 'GET /api/v2/organizations/me':
        return reply(response, 'served', 200, client.org);
      case 'GET /api/v2/users/me':
        return reply(response, 'served', 200, client.user);
      case 'GET /api/v2/users':
        return reply(response, 'served', 200, page(url, '/api/v2/users', this.users));
      case 'GET /api/v2/routing/queues':
        return reply(response, 'served', 200, page(url, '/api/v2/routing/queues', this.queues.map((queue) => ({ ...queue, memberCount: 0 }))));
      case 'HEAD /api/v2/tokens/me':
        return reply(response, 'served', 200, '');
      case 'DELETE /api/v2/tokens/me':
        token.revoked = true;
        return reply(response, 'served', 204, '');
      default:
        return reply(response, 'served', 404, { message: `No route for ${endpoint}`, code: 'not.found', status: 404 });
    }
  }

  /** `Retry-After` seconds when `endpoint` is limited by {@link rateLimitRoute} right now; counts the refusal. */
  private routeRetryAfter(endpoint: string): number | undefined {
    const limit = this.routeLimits.get(endpoint);
    if (!limit) return undefined;
    const now = Date.now();
    if (limit.remaining <= 0 || limit.until <= now) {
      this.routeLimits.delete(endpoint);
      return undefined;
    }
    if (--limit.remaining === 0) this.routeLimits.delete(endpoint);
    return limit.retryAfterSeconds ?? (Number.isFinite(limit.until) ? wholeSeconds(limit.until - now) : 1);
  }

  private zeroPerClient(): Record<string, number> {
    return Object.fromEntries(this.clients.map((client) => [client.clientId, 0]));
  }
}

/** The clients `options` describe, with organization ids filled in; throws on an unusable list. */
function clientsOf(options: GenesysCloudEmulatorOptions): Required<EmulatedClient>[] {
  if (options.clients && (options.clientId !== undefined || options.clientSecret !== undefined)) {
    throw new Error('GenesysCloudEmulator takes either clients or clientId/clientSecret, not both');
  }
  const clients = options.clients ?? [
    { clientId: options.clientId ?? 'emulator-client-id', clientSecret: options.clientSecret ?? 'emulator-client-secret', orgName: 'Emulated Org' },
  ];
  if (clients.length === 0) throw new Error('GenesysCloudEmulator needs at least one client');
  if (new Set(clients.map((client) => client.clientId)).size !== clients.length) {
    throw new Error('GenesysCloudEmulator client ids must be unique');
  }
  return clients.map((client, index) => ({ ...client, orgId: client.orgId ?? fixedUuid('8000', index + 1) }));
}

function clientState(client: Required<EmulatedClient>): ClientState {
  const orgSlug = slug(client.orgName);
  return {
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    org: { id: client.orgId, name: client.orgName, thirdPartyOrgName: orgSlug, state: 'active' },
    user: {
      id: uuidFrom(client.clientId),
      name: `${client.orgName} integration (${client.clientId})`,
      email: `${slug(client.clientId)}@${orgSlug}.example`,
    },
  };
}

/** A recognisable UUID, e.g. `00000000-0000-4000-8000-000000000001` (the single org id of earlier versions). */
function fixedUuid(variant: string, number: number): string {
  return `00000000-0000-4000-${variant}-${String(number).padStart(12, '0')}`;
}

/** A stable, UUID-shaped id derived from `text`, so a client's user id is the same in every run. */
function uuidFrom(text: string): string {
  return `00000000-0000-4000-9000-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'org';
}

/** Headers and body of Genesys' 429. */
function tooManyRequests(retryAfterSeconds: number): { headers: Record<string, string>; body: Record<string, unknown> } {
  return {
    headers: { 'Retry-After': String(retryAfterSeconds) },
    body: {
      message: `Rate limit exceeded the maximum. Retry the request in [${retryAfterSeconds}] seconds`,
      code: 'too.many.requests.retry.after',
      status: 429,
    },
  };
}

/** Milliseconds as `Retry-After` seconds: rounded up, at least 1; undefined stays undefined. */
function wholeSeconds(milliseconds: number | undefined): number | undefined {
  return milliseconds === undefined ? undefined : Math.max(1, Math.ceil(milliseconds / 1000));
}

function bearerOf(request: IncomingMessage): string | undefined {
  return /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
}

/** One page of `items` in Genesys' paging envelope, as list endpoints such as `/api/v2/routing/queues` answer. */
function page<Item extends { id: string }>(url: URL, path: string, items: readonly Item[]): Record<string, unknown> {
  const pageSize = clampInt(url.searchParams.get('pageSize'), 25, 1, 500);
  const pageNumber = clampInt(url.searchParams.get('pageNumber'), 1, 1, 100_000);
  const total = items.length;
  const pageCount = Math.max(1, Math.ceil(total / pageSize));
  const pageUri = (number: number) => `${path}?pageNumber=${number}&pageSize=${pageSize}`;
  return {
    entities: items.slice((pageNumber - 1) * pageSize, pageNumber * pageSize).map((item) => ({ ...item, selfUri: `${path}/${item.id}` })),
    pageSize,
    pageNumber,
    total,
    pageCount,
    firstUri: pageUri(1),
    selfUri: pageUri(pageNumber),
    lastUri: pageUri(pageCount),
    ...(pageNumber < pageCount ? { nextUri: pageUri(pageNumber + 1) } : {}),
    ...(pageNumber > 1 ? { previousUri: pageUri(pageNumber - 1) } : {}),
  };
}

function record(list: RecordedRequest[], request: RecordedRequest): void {
  list.push(request);
  if (list.length > RECORDED_LIMIT) list.shift();
}

function credentialsOf(authorization: string | undefined, form: URLSearchParams): [string?, string?] {
  const basic = /^Basic (.+)$/i.exec(authorization ?? '')?.[1];
  if (basic === undefined) return [form.get('client_id') ?? undefined, form.get('client_secret') ?? undefined];
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? [decoded] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

function clampInt(text: string | null, fallback: number, min: number, max: number): number {
  const value = Number.parseInt(text ?? '', 10);
  return Number.isNaN(value) ? fallback : Math.min(max, Math.max(min, value));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Epoch milliseconds with a fraction, so that events of one millisecond keep their order. */
function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Sends an answer and says what it was, for {@link GenesysCloudEmulator.onExchange}. */
function reply(response: ServerResponse, cause: EmulatorAnswerCause, status: number, body: unknown, headers?: Readonly<Record<string, string>>): Answer {
  send(response, status, body, headers);
  return { status, cause };
}

function send(response: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (response.destroyed) return;
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const payload = raw ? body : JSON.stringify(body);
  const contentType = raw ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
  response.writeHead(status, { 'Content-Type': contentType, ...headers });
  response.end(status === 204 || status === 304 ? undefined : payload);
}

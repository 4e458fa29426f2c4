import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link GenesysCloudEmulator.start}. */
export interface GenesysCloudEmulatorOptions {
  /** The only client id the token endpoint accepts. Default `emulator-client-id`. */
  readonly clientId?: string;
  /** The only client secret the token endpoint accepts. Default `emulator-client-secret`. */
  readonly clientSecret?: string;
  /** `expires_in` of issued tokens, in seconds (fractions allowed). Default `86400`. */
  readonly tokenLifetimeSeconds?: number;
  /** Loopback address to listen on. Default `127.0.0.1`; anything but a loopback address is refused. */
  readonly host?: string;
  /** Port to listen on. Default `0`: any free port. */
  readonly port?: number;
  /** How many routing queues `GET /api/v2/routing/queues` pages through. Default `30`. */
  readonly queueCount?: number;
}

/** Which side of the emulator a fault applies to: the login host's token endpoint or the Platform API. */
export type EmulatorRoute = 'token' | 'api';

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

/** One request the emulator received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** Counters since start (or the last {@link GenesysCloudEmulator.resetStats}). */
export interface EmulatorStats {
  tokenRequests: number;
  apiRequests: number;
  tokensIssued: number;
  /** API calls answered 401 for a missing, unknown, expired or revoked token. */
  unauthorized: number;
}

interface IssuedToken {
  readonly expiresAt: number;
  revoked: boolean;
}

const LOOPBACK = /^(127(?:\.\d{1,3}){3}|::1|localhost)$/;
/** Requests kept in `tokenRequests` / `apiRequests`; older ones are dropped so long runs stay small. */
const RECORDED_LIMIT = 1000;

/**
 * A local server that plays Genesys Cloud well enough for tests and demos: `POST /oauth/token`
 * (client credentials, Basic or form), `GET /api/v2/organizations/me`, `GET /api/v2/routing/queues`
 * (paged), `HEAD`/`DELETE /api/v2/tokens/me`; 401 on missing, expired or revoked tokens; and
 * scripted faults (status codes, `Retry-After`, delays, dropped or hanging connections).
 * Login and API share one origin. It listens on loopback only.
 *
 * @example
 * const emulator = await GenesysCloudEmulator.start({ tokenLifetimeSeconds: 2 });
 * GenesysAuthModule.forRoot({ ...emulator.moduleOptions() });
 * emulator.inject('token', { status: 503 }, 3);
 * await emulator.close();
 */
export class GenesysCloudEmulator {
  /** Requests to the token endpoint, newest last (the last 1000). */
  readonly tokenRequests: RecordedRequest[] = [];
  /** Requests to the API, newest last (the last 1000). */
  readonly apiRequests: RecordedRequest[] = [];
  /** Counters; see {@link EmulatorStats}. */
  readonly stats: EmulatorStats = { tokenRequests: 0, apiRequests: 0, tokensIssued: 0, unauthorized: 0 };
  /** `expires_in` of tokens issued from now on, in seconds. */
  tokenLifetimeSeconds: number;
  /** The client id the token endpoint accepts. */
  readonly clientId: string;
  /** The client secret the token endpoint accepts. */
  readonly clientSecret: string;

  private readonly tokens = new Map<string, IssuedToken>();
  private readonly faults: Record<EmulatorRoute, { fault: EmulatorFault; remaining: number }[]> = { token: [], api: [] };
  private readonly delays = new Set<NodeJS.Timeout>();
  private readonly queues: { id: string; name: string }[];
  private lastToken?: string;

  private constructor(
    private readonly server: Server,
    /** The emulator's origin, e.g. `http://127.0.0.1:41234`: both login and API base URL. */
    readonly url: string,
    options: GenesysCloudEmulatorOptions,
  ) {
    this.clientId = options.clientId ?? 'emulator-client-id';
    this.clientSecret = options.clientSecret ?? 'emulator-client-secret';
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 86_400;
    this.queues = Array.from({ length: options.queueCount ?? 30 }, (_, index) => ({
      id: randomUUID(),
      name: `Emulated queue ${String(index + 1).padStart(2, '0')}`,
    }));
  }

  /** Starts an emulator on a free loopback port. */
  static async start(options: GenesysCloudEmulatorOptions = {}): Promise<GenesysCloudEmulator> {
    const host = options.host ?? '127.0.0.1';
    if (!LOOPBACK.test(host)) throw new Error(`GenesysCloudEmulator listens on loopback only, not on "${host}"`);
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

  /** Options that point `GenesysAuthModule` at this emulator with its credentials. */
  moduleOptions(): { clientId: string; clientSecret: string; loginBaseUrl: string; apiBaseUrl: string } {
    return { clientId: this.clientId, clientSecret: this.clientSecret, loginBaseUrl: this.url, apiBaseUrl: this.url };
  }

  /** Makes the next `times` requests to `route` misbehave as `fault` describes (default: until {@link clearFaults}). */
  inject(route: EmulatorRoute, fault: EmulatorFault, times = Number.POSITIVE_INFINITY): this {
    this.faults[route].push({ fault, remaining: times });
    return this;
  }

  /** Answers the next `times` API calls with Genesys' 429 and `Retry-After: seconds`. */
  rateLimitApi(retryAfterSeconds: number, times = 1): this {
    return this.inject(
      'api',
      {
        status: 429,
        headers: { 'Retry-After': String(retryAfterSeconds) },
        body: {
          message: `Rate limit exceeded the maximum. Retry the request in [${retryAfterSeconds}] seconds`,
          code: 'too.many.requests.retry.after',
          status: 429,
        },
      },
      times,
    );
  }

  /** Removes every injected fault. */
  clearFaults(): this {
    this.faults.token.length = 0;
    this.faults.api.length = 0;
    return this;
  }

  /** Revokes every token issued so far, as an admin deleting the client's tokens would. */
  revokeAllTokens(): void {
    for (const token of this.tokens.values()) token.revoked = true;
  }

  /** Zeroes the counters and forgets recorded requests. */
  resetStats(): void {
    Object.assign(this.stats, { tokenRequests: 0, apiRequests: 0, tokensIssued: 0, unauthorized: 0 });
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
    const body = await readBody(request);
    const url = new URL(request.url ?? '/', this.url);
    const route: EmulatorRoute = url.pathname === '/oauth/token' ? 'token' : 'api';
    const recorded = { method: request.method ?? 'GET', path: url.pathname + url.search, headers: request.headers, body };
    record(route === 'token' ? this.tokenRequests : this.apiRequests, recorded);
    this.stats[route === 'token' ? 'tokenRequests' : 'apiRequests']++;

    const fault = this.takeFault(route);
    if (fault?.delayMs) await this.sleep(fault.delayMs);
    if (fault?.reset) return void request.socket.destroy();
    if (fault?.hang || response.destroyed) return;
    if (fault?.status !== undefined) return send(response, fault.status, fault.body ?? '', fault.headers);
    if (route === 'token') return this.issueToken(request, body, response);
    return this.serveApi(request, url, response);
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

  private issueToken(request: IncomingMessage, body: string, response: ServerResponse): void {
    const oauthError = (status: number, error: string, description: string) =>
      send(response, status, { error, description, error_description: description });
    if (request.method !== 'POST') return oauthError(405, 'invalid_request', 'method not allowed');
    if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return oauthError(400, 'invalid_request', 'content type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') return oauthError(400, 'unsupported_grant_type', 'grant type not supported');
    const [clientId, clientSecret] = credentialsOf(request.headers.authorization, form);
    if (clientId !== this.clientId || clientSecret !== this.clientSecret) {
      return oauthError(400, 'invalid_client', 'authentication failed');
    }
    const accessToken = randomBytes(32).toString('base64url');
    this.tokens.set(accessToken, { expiresAt: Date.now() + this.tokenLifetimeSeconds * 1000, revoked: false });
    this.lastToken = accessToken;
    this.stats.tokensIssued++;
    send(response, 200, { access_token: accessToken, token_type: 'bearer', expires_in: this.tokenLifetimeSeconds });
  }

  private serveApi(request: IncomingMessage, url: URL, response: ServerResponse): void {
    const bearer = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    const token = bearer === undefined ? undefined : this.tokens.get(bearer);
    if (!bearer || !token || token.revoked || token.expiresAt <= Date.now()) {
      this.stats.unauthorized++;
      return send(response, 401, { message: 'Authentication failed.', code: 'bad.credentials', status: 401 });
    }
    const endpoint = `${request.method} ${url.pathname}`;
    switch (endpoint) {
      case 'GET /api/v2/organizations/me':
        return send(response, 200, { id: '00000000-0000-4000-8000-000000000001', name: 'Emulated Org', thirdPartyOrgName: 'emulated-org', state: 'active' });
      case 'GET /api/v2/routing/queues':
        return send(response, 200, this.queuePage(url));
      case 'HEAD /api/v2/tokens/me':
        return send(response, 200, '');
      case 'DELETE /api/v2/tokens/me':
        token.revoked = true;
        return send(response, 204, '');
      default:
        return send(response, 404, { message: `No route for ${endpoint}`, code: 'not.found', status: 404 });
    }
  }

  private queuePage(url: URL): Record<string, unknown> {
    const pageSize = clampInt(url.searchParams.get('pageSize'), 25, 1, 500);
    const pageNumber = clampInt(url.searchParams.get('pageNumber'), 1, 1, 100_000);
    const total = this.queues.length;
    const pageCount = Math.max(1, Math.ceil(total / pageSize));
    const pageUri = (page: number) => `/api/v2/routing/queues?pageNumber=${page}&pageSize=${pageSize}`;
    return {
      entities: this.queues.slice((pageNumber - 1) * pageSize, pageNumber * pageSize).map((queue) => ({
        ...queue,
        memberCount: 0,
        selfUri: `/api/v2/routing/queues/${queue.id}`,
      })),
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

function send(response: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (response.destroyed) return;
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const payload = raw ? body : JSON.stringify(body);
  const contentType = raw ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
  response.writeHead(status, { 'Content-Type': contentType, ...headers });
  response.end(status === 204 || status === 304 ? undefined : payload);
}

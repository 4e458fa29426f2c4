import { isAxiosError, type AxiosResponse } from 'axios';
import type { Clock } from '../clock.js';
import { GenesysAuthError, inspectAs, redactText } from '../errors.js';
import type { ResolvedGenesysAuthConfig } from '../genesys-auth.options.js';
import { createOwnAxios, type OwnAxios } from '../http/own-axios.js';
import { parseRetryAfter } from '../http/retry-after.js';

/** A token as the endpoint granted it, before the service dates it. */
export interface GrantedToken {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly lifetimeMs: number;
  readonly scope?: string;
}

/** Genesys' longest token lifetime (48 h); longer `expires_in` values are clamped to it. */
export const MAX_TOKEN_LIFETIME_MS = 172_800_000;

/** Shorter `expires_in` values are refused: such a token would expire before it could be used, and refetching it would loop. */
export const MIN_TOKEN_LIFETIME_SECONDS = 1;

/** A token goes into an HTTP header: printable ASCII without blanks only. */
const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

/** Largest token answer read, after decompression: a token answer is a few hundred bytes; this bounds memory against a broken or hostile endpoint. */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/** Longest access token accepted: a longer one would make every API call fail with 431 (headers too large). */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;

/** `expires_in` as a string: plain decimal seconds only (no hex, exponents or blanks). */
const DECIMAL_SECONDS = /^\d+(\.\d+)?$/;

/** Performs one `POST /oauth/token` exchange and turns every outcome into a token or a {@link GenesysAuthError}. */
export class GenesysTokenClient {
  private readonly http: OwnAxios;
  /** Where tokens are requested: `<loginBaseUrl>/oauth/token`. */
  readonly tokenUrl: string;
  /** The form and headers never change for a configuration: built once. */
  private readonly form: string;
  private readonly headers: Record<string, string>;
  /**
   * The secret as it travels (raw, in the Basic credentials, URL- and form-encoded) and as a server or
   * proxy may re-encode it when echoing it (base64 or base64url, lower-case percent-encoding, JSON with escaped slashes).
   */
  private readonly secretForms: readonly string[];

  constructor(
    private readonly config: ResolvedGenesysAuthConfig,
    private readonly clock: Clock,
  ) {
    this.tokenUrl = `${config.loginBaseUrl}/oauth/token`;
    inspectAs(this, () => ({ tokenUrl: this.tokenUrl, clientId: config.clientId }));
    this.form = this.formBody();
    this.headers = this.requestHeaders();
    const { clientId, clientSecret } = config;
    const percentEncoded = encodeURIComponent(clientSecret);
    this.secretForms = [
      clientSecret,
      ...[`${clientId}:${clientSecret}`, clientSecret].flatMap((text) => (['base64', 'base64url'] as const).map((encoding) => Buffer.from(text, 'utf8').toString(encoding))),
      percentEncoded,
      percentEncoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
      new URLSearchParams({ s: clientSecret }).toString().slice(2),
      JSON.stringify(clientSecret).slice(1, -1).replaceAll('/', '\\/'),
    ];
    this.http = createOwnAxios(
      {
        timeout: config.tokenRequestTimeoutMs,
        maxRedirects: 0,
        maxContentLength: MAX_TOKEN_RESPONSE_BYTES,
        responseType: 'text',
        transformResponse: [(body: unknown) => body],
        validateStatus: () => true,
      },
      clock,
    );
    this.http.deadlines.attachTo(this.http.instance);
  }

  /** Asks the token endpoint for a new token. Never throws anything but a {@link GenesysAuthError}. */
  async requestToken(signal?: AbortSignal): Promise<GrantedToken> {
    let response: AxiosResponse<string>;
    try {
      response = await this.http.instance.post<string>(this.tokenUrl, this.form, { headers: this.headers, signal });
    } catch (error) {
      throw this.transportError(error);
    }
    if (response.status >= 200 && response.status < 300) return this.parseToken(response);
    throw this.refusal(response);
  }

  /** Releases kept-alive sockets. */
  close(): void {
    this.http.destroy();
  }

  private formBody(): string {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.config.scopes.length > 0) form.set('scope', this.config.scopes.join(' '));
    if (this.config.clientAuthentication === 'body') {
      form.set('client_id', this.config.clientId);
      form.set('client_secret', this.config.clientSecret);
    }
    return form.toString();
  }

  private requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    };
    if (this.config.clientAuthentication === 'basic') {
      const credentials = `${this.config.clientId}:${this.config.clientSecret}`;
      headers.Authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    }
    return headers;
  }

  private fail(code: GenesysAuthError['code'], problem: string, details: ConstructorParameters<typeof GenesysAuthError>[2] = {}) {
    return new GenesysAuthError(code, `Genesys token request to ${this.tokenUrl} failed: ${problem}`, details);
  }

  private transportError(error: unknown): GenesysAuthError {
    const code = isAxiosError(error) ? error.code : undefined;
    if (code === 'ERR_CANCELED') return new GenesysAuthError('shutdown', 'Genesys token request cancelled: the application is shutting down');
    if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
      return this.fail('timeout', `no complete answer within ${this.config.tokenRequestTimeoutMs} ms`);
    }
    if (code === 'ERR_BAD_RESPONSE' && /maxContentLength/.test((error as Error).message)) {
      return this.fail('bad_response', `the answer is larger than ${MAX_TOKEN_RESPONSE_BYTES / 1024} KiB (after decompression); it was not read further`);
    }
    return this.fail('unavailable', `${code ?? 'network error'}`);
  }

  private parseToken(response: AxiosResponse<string>): GrantedToken {
    const body = parseJsonObject(response.data);
    if (!body) return this.badResponse(response.status, 'the body is not a JSON object');
    const { access_token: accessToken, token_type: tokenType = 'bearer', expires_in: expiresIn, scope } = body;
    const tokenProblem = accessTokenProblem(accessToken, tokenType);
    if (tokenProblem) return this.badResponse(response.status, tokenProblem);
    const lifetimeSeconds = typeof expiresIn === 'string' && DECIMAL_SECONDS.test(expiresIn) ? Number(expiresIn) : expiresIn;
    if (typeof lifetimeSeconds !== 'number' || !Number.isFinite(lifetimeSeconds) || lifetimeSeconds < MIN_TOKEN_LIFETIME_SECONDS) {
      return this.badResponse(response.status, `expires_in is not a number of seconds of at least ${MIN_TOKEN_LIFETIME_SECONDS}`);
    }
    return {
      accessToken: accessToken as string,
      tokenType: tokenType as string,
      lifetimeMs: Math.min(lifetimeSeconds * 1000, MAX_TOKEN_LIFETIME_MS),
      ...(typeof scope === 'string' ? { scope } : {}),
    };
  }

  private badResponse(status: number, problem: string): never {
    throw this.fail('bad_response', `HTTP ${status} with an unusable answer: ${problem}`, { status });
  }

  private refusal(response: AxiosResponse<string>): GenesysAuthError {
    const { status } = response;
    const body = parseJsonObject(response.data) ?? {};
    const genesysError = typeof body.error === 'string' ? this.safe(body.error) : undefined;
    const rawDescription = body.error_description ?? body.description;
    const genesysErrorDescription = typeof rawDescription === 'string' ? this.safe(rawDescription) : undefined;
    const details = { status, genesysError, genesysErrorDescription, retryAfterMs: parseRetryAfter(response.headers['retry-after'], this.clock.now()) };
    const said = genesysError ? `${genesysError}${genesysErrorDescription ? ` (${genesysErrorDescription})` : ''}` : 'no OAuth error';
    const problem = `HTTP ${status}, ${said}`;

    if (status === 429 || (genesysError === 'invalid_request' && /^rate limit exceeded/i.test(genesysErrorDescription ?? ''))) {
      return this.fail('rate_limited', problem, details);
    }
    if (genesysError === 'invalid_client' || (status === 401 && !genesysError)) {
      return this.fail('invalid_client', `${problem}: check the client id and secret`, details);
    }
    if (genesysError === 'unauthorized_client' || status === 403) {
      return this.fail('unauthorized_client', `${problem}: the OAuth client may not use the Client Credentials grant`, details);
    }
    if (genesysError === 'invalid_scope') return this.fail('invalid_scope', `${problem}: check the scopes option`, details);
    if (status === 408) return this.fail('timeout', problem, details);
    if (status >= 500) return this.fail('unavailable', problem, details);
    // Other 4xx, and redirects (which a token endpoint never sends): the request or loginBaseUrl is wrong.
    return this.fail('rejected', `${problem}: the token endpoint refused the request (check loginBaseUrl)`, details);
  }

  /** Server text goes into messages: keep it short, single-line and free of our secret. */
  private safe(text: string): string {
    return redactText(text, this.secretForms).replace(/[\r\n\t]+/g, ' ').slice(0, 300);
  }
}

/**
 * What makes an access token and its type unusable, wherever they come from (the token endpoint, or a
 * store other replicas write to); `undefined` when they are fine. The text never contains the token.
 */
export function accessTokenProblem(accessToken: unknown, tokenType: unknown): string | undefined {
  if (typeof accessToken !== 'string' || !TOKEN_SHAPE.test(accessToken)) return 'access_token is missing, empty or not a single printable string';
  if (accessToken.length > MAX_ACCESS_TOKEN_LENGTH) return `access_token is longer than ${MAX_ACCESS_TOKEN_LENGTH} characters`;
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') return 'token_type is not "bearer"';
  return undefined;
}

function parseJsonObject(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

import type { InternalAxiosRequestConfig } from 'axios';
import type { RequestState } from './request-state.js';

const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/** The configured API origin, and the check that decides which requests carry its token. */
export class ApiOrigin {
  constructor(readonly origin: string) {}

  /** Whether a URL goes to the API origin (same scheme, host and port; no user info). */
  includes(url: string): boolean {
    try {
      const parsed = new URL(url);
      return parsed.origin === this.origin && parsed.username === '' && parsed.password === '';
    } catch {
      return false;
    }
  }

  /** Whether a request goes to the API origin. A relative URL on the API base URL needs no parsing (the hot path). */
  receives(config: InternalAxiosRequestConfig): boolean {
    const base = config.baseURL ?? '';
    if (!ABSOLUTE_URL.test(config.url ?? '') && (base === this.origin || stripTrailingSlashes(base) === this.origin)) return true;
    return this.includes(resolvedUrl(config));
  }
}

/** Whether the request carries an Authorization header of the caller's: one it had before the library signed it. */
export function carriesOwnAuthorization(config: InternalAxiosRequestConfig, state: RequestState): boolean {
  if (state.signedWith !== undefined) return false;
  const name = authorizationName(config.headers);
  return name !== undefined && config.headers[name] !== undefined;
}

/**
 * Puts the token in the Authorization header and remembers it, for redaction and for the 401 that may
 * follow. As axios' `set` would, without cleaning the value: a token is printable ASCII without spaces
 * (checked as it arrives from the endpoint or the store). A header the caller set to `false` stays unset.
 */
export function signWith(config: InternalAxiosRequestConfig, state: RequestState, token: string): void {
  const name = authorizationName(config.headers);
  if (name === undefined) config.headers.Authorization = `Bearer ${token}`;
  else if (config.headers[name] !== false) config.headers[name] = `Bearer ${token}`;
  state.signedWith = token;
}

/**
 * The name the headers hold Authorization under, in any case: the last own one, as axios' `has` and
 * `set` find it (of several spellings, axios sends the last one's value), without lower-casing a copy of every name.
 */
function authorizationName(headers: InternalAxiosRequestConfig['headers']): string | undefined {
  const names = Object.keys(headers);
  for (let index = names.length - 1; index >= 0; index--) {
    const name = names[index];
    if (name.length === 13 && name.toLowerCase() === 'authorization') return name;
  }
  return undefined;
}

/** Takes the library's token off a request that now goes elsewhere (a replay whose URL changed); it stays redacted. */
export function unsign(config: InternalAxiosRequestConfig, state: RequestState): void {
  if (state.signedWith === undefined) return;
  config.headers.delete('Authorization');
  state.signedWith = undefined;
}

function stripTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Where axios will send the request: `url` when absolute, else `baseURL` + `url` (as axios' buildFullPath does). */
export function resolvedUrl(config: InternalAxiosRequestConfig): string {
  const url = config.url ?? '';
  if (!config.baseURL || (ABSOLUTE_URL.test(url) && config.allowAbsoluteUrls !== false)) return url;
  return url ? `${stripTrailingSlashes(config.baseURL)}/${url.replace(/^\/+/, '')}` : config.baseURL;
}

/** The URL that gave the answer: after redirects, follow-redirects records it on the response; else where the request went. */
export function answeringUrl(answer: { request?: unknown }, config: InternalAxiosRequestConfig): string {
  const request = answer.request as { res?: { responseUrl?: string } } | undefined;
  return request?.res?.responseUrl ?? resolvedUrl(config);
}

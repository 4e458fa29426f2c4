import axios, { AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios';
import type { RequestState } from './request-state.js';
import { resolvedUrl, type ApiOrigin } from './sign.js';

/** Options follow-redirects hands to `beforeRedirect`: enough to see where the redirect goes. */
interface RedirectOptions {
  protocol?: string;
  host?: string;
  hostname?: string;
  port?: string | number;
  headers?: Record<string, unknown>;
}

type BeforeRedirect = NonNullable<InternalAxiosRequestConfig['beforeRedirect']>;

/** follow-redirects' limit when a request sets none: a chain of hops after the first is allowed one fewer. */
const FOLLOW_REDIRECTS_DEFAULT_MAX = 21;

/** Headers axios' follow-redirects path drops on a hop to another origin. */
const CONFIDENTIAL_HEADER = /^(?:(?:proxy-)?authorization|cookie)$/i;

/** Methods whose requests carry no body a hop would have to send again, and whose method a hop keeps. */
const BODYLESS_METHOD = /^(?:get|head)$/i;

/**
 * Redirects of the requests the library sends.
 *
 * follow-redirects (axios' transport whenever `maxRedirects` is not 0) wraps every request in a stream of
 * its own that re-emits each event, and costs about 50 µs of CPU a request even when no redirect comes
 * (`npm run bench:cpu`). On the library's own instances a GET or HEAD without a body goes out on Node's own
 * transport instead; should a redirect answer it, the first hop is sent as another attempt of the request
 * (signed only if the request was and only for the API origin, paced, under a deadline of its own) and
 * follow-redirects takes any hop after it.
 *
 * Wherever follow-redirects follows, a signed request drops its Authorization header on any hop off the API
 * origin: follow-redirects itself keeps headers across hops to the same host on another port or scheme,
 * and to its sub-domains.
 */
export class Redirects {
  private readonly httpAdapter: AxiosAdapter;

  constructor(private readonly api: ApiOrigin) {
    this.httpAdapter = axios.getAdapter('http');
  }

  /**
   * Sends the request on Node's own transport (`maxRedirects: 0`) when nothing of follow-redirects'
   * can matter to it: the http adapter, no body, a buffered answer, and no redirect option of the caller's
   * (`maxRedirects`, `beforeRedirect`, `transport`, `sensitiveHeaders`).
   * A replay of such a request goes the same way.
   */
  sendNatively(config: InternalAxiosRequestConfig, state: RequestState, adapter: AxiosAdapter): void {
    if (state.sentNatively) return;
    if (
      adapter !== this.httpAdapter ||
      config.maxRedirects !== undefined ||
      config.beforeRedirect !== undefined ||
      config.transport !== undefined ||
      config.sensitiveHeaders !== undefined ||
      config.data != null ||
      config.responseType === 'stream' ||
      config.auth !== undefined ||
      config.allowAbsoluteUrls === false ||
      (config as { httpVersion?: unknown }).httpVersion !== undefined ||
      !BODYLESS_METHOD.test(config.method ?? 'get')
    ) {
      return;
    }
    config.maxRedirects = 0;
    state.sentNatively = true;
  }

  /** Whether `answer` is a redirect the library follows itself: one answering a request it sent on Node's own transport. */
  isFollowed(state: RequestState, answer: AxiosResponse): boolean {
    const location: unknown = answer.headers?.location;
    return state.sentNatively && answer.status >= 300 && answer.status < 400 && typeof location === 'string' && location !== '';
  }

  /**
   * The first hop of a redirect the library follows (see {@link isFollowed}), as axios' follow-redirects
   * path would send it: same method, no body, no Host header, and Authorization, Proxy-Authorization and
   * Cookie left behind on a hop to another origin; sent on follow-redirects, which takes the hops after it.
   * Throws when the Location is no http(s) URL.
   */
  firstHop(config: InternalAxiosRequestConfig, answer: AxiosResponse): InternalAxiosRequestConfig {
    const sentPath: unknown = (answer.request as { path?: unknown } | undefined)?.path;
    const from = new URL(typeof sentPath === 'string' ? sentPath : '', resolvedUrl(config)); // the URL sent, query included
    const to = new URL(answer.headers.location as string, from);
    if (to.protocol !== 'http:' && to.protocol !== 'https:') throw new Error(`Unsupported protocol in a redirect's Location: ${to.protocol}`);
    // Credentials a redirect names are not sent on (axios would send them as Basic auth; its follow-redirects path does not).
    to.username = to.password = '';
    const headers = new AxiosHeaders(config.headers); // a copy: the caller's config keeps its own
    headers.delete('Host');
    if (to.origin !== from.origin) for (const name of Object.keys(headers)) if (CONFIDENTIAL_HEADER.test(name)) headers.delete(name);
    return { ...config, url: to.href, params: undefined, headers, maxRedirects: FOLLOW_REDIRECTS_DEFAULT_MAX - 1 };
  }

  /** Guards a signed request's redirects, before any `beforeRedirect` of the caller's. */
  guard(config: InternalAxiosRequestConfig): void {
    const own = config.beforeRedirect;
    if (own === this.dropAuthorizationOffOrigin) return; // a replay, guarded already
    config.beforeRedirect = own ? this.guarding(own) : this.dropAuthorizationOffOrigin;
  }

  private readonly dropAuthorizationOffOrigin = (options: Record<string, unknown>): void => {
    const target = options as RedirectOptions;
    const port = target.port ? `:${target.port}` : '';
    if (!this.api.includes(`${target.protocol}//${target.hostname ?? target.host}${port}/`) && target.headers) {
      for (const name of Object.keys(target.headers)) if (name.toLowerCase() === 'authorization') delete target.headers[name];
    }
  };

  private guarding(next: BeforeRedirect): BeforeRedirect {
    return (options, ...details) => {
      this.dropAuthorizationOffOrigin(options);
      next(options, ...details);
    };
  }
}

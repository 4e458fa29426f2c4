import type { InternalAxiosRequestConfig } from 'axios';
import type { ApiOrigin } from './sign.js';

/** Options follow-redirects hands to `beforeRedirect`: enough to see where the redirect goes. */
interface RedirectOptions {
  protocol?: string;
  host?: string;
  hostname?: string;
  port?: string | number;
  headers?: Record<string, unknown>;
}

type BeforeRedirect = NonNullable<InternalAxiosRequestConfig['beforeRedirect']>;

/**
 * follow-redirects keeps headers across redirects to the same host on another port or scheme (and to
 * its sub-domains): a signed request drops its Authorization header on any redirect off the API origin.
 */
export class RedirectGuard {
  constructor(private readonly api: ApiOrigin) {}

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

import { inspect } from 'node:util';
import type { GenericAbortSignal, InternalAxiosRequestConfig } from 'axios';
import type { GateLease } from '../rate-limit/rate-gate.js';
import type { DeadlineBucket } from './request-deadlines.js';
import type { ApiAttempt } from '../telemetry.js';

/**
 * What the library remembers about one request across its attempts: the one thing it keeps on an axios
 * config (under `genesys`). A class rather than a plain object: axios' `mergeConfig` copies plain
 * objects into a replay's config but hands instances on as they are, so every attempt of a request
 * shares this one and nothing is copied per attempt.
 */
export class RequestState {
  // Tokens in private fields: whatever walks an error's properties (a logger, a serialiser) never meets them.
  #signedWith?: string;
  /** Tokens earlier attempts carried, other than `signedWith`: redacted too. Absent until a request meets a second token. */
  #earlierTokens?: string[];
  /** Replays after a 401 so far: one per token it met refused, at most one more than the pool has tokens. */
  unauthorizedReplays = 0;
  rateLimitRetries = 0;
  /** When the request was first signed: waits for budget and after 429s count from here against `rateLimit.maxWaitMs`. */
  startedAt?: number;
  /** The budget this attempt holds until its answer arrives. */
  lease?: GateLease;
  /** Counted as in flight, once for all its attempts. */
  counted = false;
  /** Attempts signed so far (replays after 401 or 429 included), and the one in flight for telemetry (with an SDK only). */
  attempts = 0;
  attempt?: ApiAttempt;
  /** The adapter the request had before the library first routed it through its own, which signs and then sends with it. */
  adapter?: InternalAxiosRequestConfig['adapter'];
  /** Whether {@link adapter} is known: a replay keeps the first attempt's, whatever wrapped the library's since. */
  routed = false;
  /** Whether the library set `maxRedirects: 0` to send the request on Node's own transport (see Redirects). */
  sentNatively = false;
  /** Set while the first hop of a redirect of a request the library did not sign is sent: it stays unsigned too. */
  neverSigned = false;

  /** The attempt's deadline (see RequestDeadlines): the bucket whose signal ends it, with the `timeout` and signal it stands in for. */
  deadline?: DeadlineBucket;
  /** The attempt's `timeout`, held while axios sees none (its own idle timer would be redundant). */
  timeoutMs = 0;
  /** The signal the caller passed, put back when the attempt ends so that waits and replays see only it. */
  callerSignal?: GenericAbortSignal;
  /** Ends the link between the attempt's signal and the caller's, when there is one. */
  unlink?: () => void;

  /** The token the interceptor put in the Authorization header; absent when it did not sign. */
  get signedWith(): string | undefined {
    return this.#signedWith;
  }

  /** Records the token the attempt is signed with, or that it carries none (`undefined`); the one before it stays redacted. */
  set signedWith(token: string | undefined) {
    if (this.#signedWith !== undefined && this.#signedWith !== token) (this.#earlierTokens ??= []).push(this.#signedWith);
    this.#signedWith = token;
  }

  /** Every token the request carried, for redaction. */
  tokens(): string[] {
    const tokens = this.#earlierTokens ? [...this.#earlierTokens] : [];
    if (this.#signedWith !== undefined) tokens.push(this.#signedWith);
    return tokens;
  }

  /** It holds tokens: an error's config shows none of it in logs or JSON. */
  toJSON(): Record<string, never> {
    return {};
  }

  [inspect.custom](): string {
    return 'RequestState {}';
  }
}

/** An axios config as the library sees it: with its {@link RequestState}. */
export type StatefulConfig = InternalAxiosRequestConfig & { genesys?: RequestState };

/** The request's state, created on its first attempt. */
export function stateOf(config: InternalAxiosRequestConfig): RequestState {
  return ((config as StatefulConfig).genesys ??= new RequestState());
}

import { setMaxListeners } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { HttpService } from '@nestjs/axios';
import axios, { AxiosError, isAxiosError, type AxiosInstance, type CreateAxiosDefaults, type InternalAxiosRequestConfig } from 'axios';
import type { Clock } from './clock.js';

/** How long a kept-alive socket may sit idle before the library closes it. */
const IDLE_SOCKET_TIMEOUT_MS = 4_000;

/** An axios instance of the library's own (never axios' global default) and the sockets it keeps. */
export interface OwnAxios {
  readonly instance: AxiosInstance;
  /** Closes every kept-alive socket; call on application shutdown. */
  destroy(): void;
}

/**
 * Creates an axios instance with its own keep-alive agents, so its sockets can be released on shutdown.
 * Its `timeout` is a wall-clock deadline for the whole exchange (see {@link enforceDeadline}).
 */
export function createOwnAxios(defaults: CreateAxiosDefaults, clock: Clock): OwnAxios {
  // Idle sockets are closed after 4 s, before the 5 s keep-alive timeout common on servers (Node's own, for one):
  // reusing a socket the server is closing at that moment fails the request with ECONNRESET.
  const httpAgent = new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS });
  const httpsAgent = new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS });
  const instance = axios.create({ ...defaults, httpAgent, httpsAgent });
  const clearDeadlines = enforceDeadline(instance, clock);
  return {
    instance,
    destroy: () => {
      clearDeadlines();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}


/** Deadlines are kept to this grain: a request's deadline falls between `timeout` and `timeout` + this. */
const DEADLINE_GRAIN_MS = 100;

/** Requests started in one grain with one timeout share a deadline: one abort controller and one timer a grain, not one a request. */
interface DeadlineBucket {
  readonly grain: number;
  readonly expired: AbortController;
}

interface Deadline {
  /** The signal the caller passed, kept so that a replayed request combines it afresh. */
  readonly callerSignal?: AbortSignal;
  readonly bucket?: DeadlineBucket;
}

/** Per-request deadline bookkeeping under a plain key, which axios copies into the config of a replay (symbols it drops). */
type DeadlineConfig = InternalAxiosRequestConfig & { genesysDeadline?: Deadline };

/**
 * axios' `timeout` stops counting once the response headers arrive, so a server trickling its body
 * could hold a caller for ever. This turns `timeout` into a deadline for headers and body together:
 * an abort signal that fires after `timeout` (give or take {@link DEADLINE_GRAIN_MS}), combined with the
 * caller's own signal. It must run last of the request interceptors (axios runs them in reverse order
 * of registration: register it first) so the time spent waiting for a token is not counted.
 * Returns a function that clears its timers, for shutdown.
 */
export function enforceDeadline(instance: AxiosInstance, clock: Clock): () => void {
  const buckets = new Map<number, DeadlineBucket>(); // the current bucket per timeout value
  const timers = new Set<NodeJS.Timeout>();
  const bucketFor = (timeoutMs: number): DeadlineBucket => {
    const now = clock.now();
    const grain = Math.floor(now / DEADLINE_GRAIN_MS);
    const current = buckets.get(timeoutMs);
    if (current?.grain === grain) return current;
    const bucket: DeadlineBucket = { grain, expired: new AbortController() };
    // Every request of the grain listens to this one signal (axios removes its listener when the request ends).
    setMaxListeners(0, bucket.expired.signal);
    buckets.set(timeoutMs, bucket);
    // Fires when the grain's last starter has had its whole timeout.
    const timer = clock.setTimeout(() => {
      timers.delete(timer);
      if (buckets.get(timeoutMs) === bucket) buckets.delete(timeoutMs);
      bucket.expired.abort();
    }, (grain + 1) * DEADLINE_GRAIN_MS + timeoutMs - now);
    timers.add(timer);
    return bucket;
  };

  instance.interceptors.request.use((config: DeadlineConfig) => {
    const previous = config.genesysDeadline;
    const callerSignal = previous ? previous.callerSignal : (config.signal as AbortSignal | undefined);
    const timeoutMs = config.timeout;
    if (!timeoutMs) {
      config.genesysDeadline = { callerSignal };
      return config;
    }
    const bucket = bucketFor(timeoutMs); // a replay gets a deadline of its own
    config.genesysDeadline = { callerSignal, bucket };
    config.signal = callerSignal ? AbortSignal.any([callerSignal, bucket.expired.signal]) : bucket.expired.signal;
    return config;
  });
  instance.interceptors.response.use(undefined, (error: unknown) => {
    if (!isAxiosError(error) || !error.config) throw error;
    const deadline = (error.config as DeadlineConfig).genesysDeadline;
    if (!deadline?.bucket?.expired.signal.aborted || deadline.callerSignal?.aborted) throw error;
    throw new AxiosError(
      `timeout of ${error.config.timeout}ms exceeded (a deadline for the whole exchange, headers and body)`,
      AxiosError.ECONNABORTED,
      error.config,
      error.request,
    );
  });
  return () => {
    for (const timer of timers) clock.clearTimeout(timer);
    timers.clear();
    buckets.clear();
  };
}

/*
 * axios ships separate ESM and CJS typings. In the CJS build, @nestjs/axios 12 (ESM-only) sees the ESM
 * ones and this library the CJS ones, so TypeScript calls the same runtime object two types. These two
 * functions are the only place that bridges them.
 */

/** This library's axios instance, typed as `HttpService` expects it. */
export function asHttpServiceAxios(instance: AxiosInstance): HttpService['axiosRef'] {
  return instance as unknown as HttpService['axiosRef'];
}

/** The axios instance behind an `HttpService`, or the instance itself. */
export function axiosOf(target: HttpService | AxiosInstance): AxiosInstance {
  return ('axiosRef' in target ? target.axiosRef : target) as AxiosInstance;
}

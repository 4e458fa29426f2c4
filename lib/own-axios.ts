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
  enforceDeadline(instance, clock);
  return {
    instance,
    destroy: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}


interface Deadline {
  /** The signal the caller passed, kept so that a replayed request combines it afresh. */
  readonly callerSignal?: AbortSignal;
  timer?: NodeJS.Timeout;
  expired?: AbortController;
}

/** Per-request deadline bookkeeping under a plain key, which axios copies into the config of a replay (symbols it drops). */
type DeadlineConfig = InternalAxiosRequestConfig & { genesysDeadline?: Deadline };

/**
 * axios' `timeout` stops counting once the response headers arrive, so a server trickling its body
 * could hold a caller for ever. This turns `timeout` into a deadline for headers and body together:
 * an abort signal with a timer, combined with the caller's own signal. It must run last of the request
 * interceptors (axios runs them in reverse order of registration: register it first) so the time
 * spent waiting for a token is not counted.
 */
export function enforceDeadline(instance: AxiosInstance, clock: Clock): void {
  instance.interceptors.request.use((config: DeadlineConfig) => {
    const previous = config.genesysDeadline;
    if (previous?.timer) clock.clearTimeout(previous.timer); // a replay starts its own deadline
    const timeoutMs = config.timeout;
    const callerSignal = previous ? previous.callerSignal : (config.signal as AbortSignal | undefined);
    if (!timeoutMs) {
      config.genesysDeadline = { callerSignal };
      return config;
    }
    const expired = new AbortController();
    const timer = clock.setTimeout(() => expired.abort(), timeoutMs);
    config.genesysDeadline = { callerSignal, timer, expired };
    config.signal = callerSignal ? AbortSignal.any([callerSignal, expired.signal]) : expired.signal;
    return config;
  });
  instance.interceptors.response.use(
    (response) => {
      settleDeadline(response.config, clock);
      return response;
    },
    (error: unknown) => {
      if (!isAxiosError(error) || !error.config) throw error;
      const deadline = settleDeadline(error.config, clock);
      if (!deadline?.expired?.signal.aborted || deadline.callerSignal?.aborted) throw error;
      throw new AxiosError(
        `timeout of ${error.config.timeout}ms exceeded (a deadline for the whole exchange, headers and body)`,
        AxiosError.ECONNABORTED,
        error.config,
        error.request,
      );
    },
  );
}

function settleDeadline(config: DeadlineConfig, clock: Clock): Deadline | undefined {
  const deadline = config.genesysDeadline;
  if (deadline?.timer) clock.clearTimeout(deadline.timer);
  return deadline;
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

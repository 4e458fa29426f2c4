import { AxiosError, isAxiosError, type AxiosInstance, type GenericAbortSignal, type InternalAxiosRequestConfig } from 'axios';
import { onAbort } from '../abort-listener.js';
import type { Clock } from '../clock.js';
import { isStream } from './is-stream.js';
import { stateOf, type StatefulConfig } from './request-state.js';

/**
 * Deadlines are kept to a grain: a request's deadline falls between `timeout` and `timeout` + the grain,
 * a tenth of the timeout up to this (a 150 ms token timeout stays within 15 ms of it).
 */
const MAX_DEADLINE_GRAIN_MS = 100;

type AbortListener = (...args: unknown[]) => unknown;

/**
 * The abort signal axios listens to for a deadline. axios accepts any `GenericAbortSignal`; this one keeps
 * its listeners in a `Set`, because a DOM `AbortSignal` costs each request microseconds to add and
 * remove its listener when hundreds of requests share it.
 */
export class DeadlineSignal implements GenericAbortSignal {
  aborted = false;
  reason: unknown;
  onabort: AbortListener | null = null;
  private readonly listeners = new Set<AbortListener>();

  addEventListener(type: string, listener: AbortListener): void {
    if (type === 'abort' && typeof listener === 'function' && !this.aborted) this.listeners.add(listener);
  }

  removeEventListener(type: string, listener: AbortListener): void {
    if (type === 'abort') this.listeners.delete(listener);
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const event = { type: 'abort', target: this };
    for (const listener of this.listeners) listener.call(this, event);
    this.listeners.clear();
    this.onabort?.call(this, event);
  }
}

/** Requests started in one grain with one timeout share a deadline: one signal and one timer a grain, not one a request. */
export interface DeadlineBucket {
  readonly grain: number;
  readonly expired: DeadlineSignal;
}

/**
 * axios' `timeout` stops counting once the response headers arrive, so a server trickling its body
 * could hold a caller for ever. This turns `timeout` into a deadline for headers and body together,
 * given to axios as the request's abort signal (combined with the caller's own).
 *
 * Arm it as the attempt is sent, after any wait for a token or budget (which has deadlines of its own),
 * and settle it when the attempt's answer or error arrives. {@link attachTo} does both with interceptors
 * of their own; the auth interceptor does them in its own steps, saving a turn of the promise chain each.
 */
export class RequestDeadlines {
  private readonly buckets = new Map<number, DeadlineBucket>(); // the current bucket per timeout value
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly clock: Clock) {}

  /** Starts the attempt's deadline, if it has a `timeout`: its signal now also fires at the deadline. `now` saves a clock read to a caller that has just read it. */
  readonly arm = <C extends InternalAxiosRequestConfig>(config: C, now = this.clock.now()): C => {
    const timeoutMs = timeoutOf(config);
    if (!(timeoutMs > 0)) return config; // none, or one axios itself refuses
    const state = stateOf(config);
    const bucket = this.bucketFor(timeoutMs, now);
    state.deadline = bucket;
    state.timeoutMs = timeoutMs;
    const callerSignal = config.signal;
    if (!callerSignal) {
      config.signal = bucket.expired;
    } else {
      state.callerSignal = callerSignal;
      const linked = linkedSignal(callerSignal, bucket.expired);
      state.unlink = linked.unlink;
      config.signal = linked.signal;
    }
    // The deadline covers axios' own timeout (an idle timer per request, so never the earlier of the two).
    config.timeout = 0;
    return config;
  };

  /**
   * Ends the attempt's deadline as its answer arrives: the config carries the caller's signal and `timeout`
   * again. A streamed body (`responseType: 'stream'`) stays under the deadline and the caller's signal
   * until it closes: axios listens to the attempt's signal until then.
   */
  settle(config: InternalAxiosRequestConfig, body?: unknown): void {
    const state = (config as StatefulConfig).genesys;
    const bucket = state?.deadline;
    if (!bucket) return;
    const { timeoutMs, callerSignal, unlink } = state;
    state.deadline = state.callerSignal = state.unlink = undefined;
    config.signal = callerSignal;
    config.timeout = timeoutMs;
    if (unlink) {
      if (isStream(body)) body.once('close', unlink);
      else unlink();
    }
  }

  /**
   * Ends the attempt's deadline as its error arrives (see {@link settle}). Returns the error to hand on:
   * axios' timeout error (`ECONNABORTED`) when the deadline is what ended the attempt.
   */
  settleFailed(error: unknown): unknown {
    if (!isAxiosError(error) || !error.config) return error;
    const state = (error.config as StatefulConfig).genesys;
    const expired = state?.deadline?.expired.aborted === true && state.callerSignal?.aborted !== true;
    const timeoutMs = state?.timeoutMs;
    this.settle(error.config);
    if (!expired) return error;
    // As axios words and codes its own timeout, honouring the same options.
    const { timeoutErrorMessage, transitional } = error.config;
    return new AxiosError(
      timeoutErrorMessage ?? `timeout of ${timeoutMs}ms exceeded (a deadline for the whole exchange, headers and body)`,
      transitional?.clarifyTimeoutError ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED,
      error.config,
      error.request,
    );
  }

  /** Enforces deadlines on an instance with interceptors of their own. Register before any other request interceptor. */
  attachTo(instance: AxiosInstance): void {
    // axios runs request interceptors in reverse order of registration: registered first, this runs last.
    instance.interceptors.request.use((config) => this.arm(config));
    instance.interceptors.response.use(
      (response) => {
        this.settle(response.config, response.data);
        return response;
      },
      (error: unknown) => {
        throw this.settleFailed(error);
      },
    );
  }

  /** Clears the timers, for shutdown. */
  close(): void {
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    this.timers.clear();
    this.buckets.clear();
  }

  private bucketFor(timeoutMs: number, now: number): DeadlineBucket {
    const grainMs = Math.min(MAX_DEADLINE_GRAIN_MS, Math.ceil(timeoutMs / 10));
    const grain = Math.floor(now / grainMs);
    const current = this.buckets.get(timeoutMs);
    if (current?.grain === grain) return current;
    const bucket: DeadlineBucket = { grain, expired: new DeadlineSignal() };
    this.buckets.set(timeoutMs, bucket);
    // Fires when the grain's last starter has had its whole timeout.
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      if (this.buckets.get(timeoutMs) === bucket) this.buckets.delete(timeoutMs);
      bucket.expired.abort();
    }, (grain + 1) * grainMs + timeoutMs - now);
    this.timers.add(timer);
    return bucket;
  }
}

/** A signal of its own for one attempt, firing with the caller's or the deadline's, and how to let go of both. */
function linkedSignal(callerSignal: GenericAbortSignal, deadline: DeadlineSignal): { signal: DeadlineSignal; unlink: () => void } {
  const signal = new DeadlineSignal();
  const abort = () => signal.abort();
  if (callerSignal.aborted) abort();
  const stopListeningToCaller = onAbort(callerSignal, abort);
  deadline.addEventListener('abort', abort);
  const unlink = () => {
    stopListeningToCaller();
    deadline.removeEventListener('abort', abort);
  };
  return { signal, unlink };
}

/** The attempt's `timeout` in milliseconds, read as axios reads it (a numeric string counts); `NaN` when axios would refuse it. */
function timeoutOf(config: InternalAxiosRequestConfig): number {
  const timeout: unknown = config.timeout;
  return typeof timeout === 'number' ? timeout : Number.parseInt(String(timeout), 10);
}

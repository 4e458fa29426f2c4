import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import type { HttpService } from '@nestjs/axios';
import axios, { type AxiosInstance, type CreateAxiosDefaults } from 'axios';
import type { Clock } from '../clock.js';
import { inspectAs } from '../errors.js';
import { RequestDeadlines } from './request-deadlines.js';

/** How long a kept-alive socket may sit idle before the library closes it. */
const IDLE_SOCKET_TIMEOUT_MS = 4_000;
/** How often idle sockets are looked for: a socket is closed after between timeout − this and timeout idle. */
const IDLE_SWEEP_INTERVAL_MS = 500;

/** An axios instance of the library's own (never axios' global default) and the sockets it keeps. */
export interface OwnAxios {
  readonly instance: AxiosInstance;
  /** Its `timeout` as a deadline for the whole exchange; whoever sends on the instance arms and settles it. */
  readonly deadlines: RequestDeadlines;
  /** Closes every kept-alive socket; call on application shutdown. */
  destroy(): void;
}

/**
 * Creates an axios instance with its own keep-alive agents, so its sockets can be released on shutdown,
 * and the {@link RequestDeadlines} that make its `timeout` a deadline for the whole exchange once attached.
 */
export function createOwnAxios(defaults: CreateAxiosDefaults, clock: Clock): OwnAxios {
  const sweeper = new IdleSocketSweeper(clock);
  const httpAgent = sweeper.watch(new http.Agent({ keepAlive: true }));
  const httpsAgent = sweeper.watch(new https.Agent({ keepAlive: true }));
  // Every request's config holds the agents, and through their sockets other requests' headers: whatever logs
  // or serialises an error's config (axios' `toJSON`, `util.inspect`) sees a summary instead.
  for (const agent of [httpAgent, httpsAgent]) inspectAs(agent, () => ({ keepAlive: true }));
  const instance = axios.create({ ...defaults, httpAgent, httpsAgent });
  withoutInertDefaults(instance);
  const deadlines = new RequestDeadlines(clock);
  return {
    instance,
    deadlines,
    destroy: () => {
      deadlines.close();
      sweeper.close();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/**
 * Drops the defaults that axios treats as no value at all on a server: cookie-based XSRF (applied in
 * browsers only) and `-1` sizes ("no limit"). axios copies every key of the defaults into each request's
 * config and walks that config several times a request; these four cost about 2 µs a request with a
 * stubbed network (`npm run bench:cpu`), most of it because a GET's config then outgrows its property table.
 */
function withoutInertDefaults(instance: AxiosInstance): void {
  const { defaults } = instance;
  delete defaults.xsrfCookieName;
  delete defaults.xsrfHeaderName;
  if (defaults.maxContentLength === -1) delete defaults.maxContentLength;
  if (defaults.maxBodyLength === -1) delete defaults.maxBodyLength;
}

/**
 * Closes kept-alive sockets idle for {@link IDLE_SOCKET_TIMEOUT_MS}, before the 5 s keep-alive timeout
 * common on servers (Node's own, for one), or a second before the timeout a server announces in
 * `Keep-Alive: timeout=N` when that is sooner (as Node's agent does): reusing a socket the server is
 * closing at that moment fails the request with ECONNRESET. One sweep every {@link IDLE_SWEEP_INTERVAL_MS}
 * while sockets sit idle, rather than Node's agent `timeout`, which sets a socket timer again on every request.
 * Node's agent does not do the job alone: its `timeout` is a socket inactivity timer, armed on sockets in
 * use too, and with `http.Agent({ keepAlive: true, timeout: 4000 })` the invariant suite saw token requests
 * fail with ECONNRESET in 2 of 4 runs (none in 3 with this sweep); the server's `Keep-Alive` hint is read
 * here from the socket's last response (`_httpMessage`), which Node's public API does not expose.
 *
 * Freeing a socket happens once a request, so it reads no clock: a socket's idle time is reckoned from
 * the sweeper's last reading, which is never later than the moment it was freed. A socket is closed after
 * between its limit − 2 × {@link IDLE_SWEEP_INTERVAL_MS} and its limit idle. A sweep the event loop held
 * up (a stalled handler) runs as the next request asks the agent for a socket, before it picks one.
 */
class IdleSocketSweeper {
  private readonly agents: http.Agent[] = [];
  /** When each idle socket is to be closed, at the first sweep from then on. */
  private readonly closeAt = new WeakMap<Duplex, number>();
  private timer?: NodeJS.Timeout;
  /** The clock as of the last sweep, or of the first socket freed since none was idle. */
  private readAt = 0;
  /** The last `Keep-Alive` hint read and the limit it gives: servers send the same one on every response. */
  private lastHint?: string;
  private lastHintLimitMs = Number.POSITIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  watch<A extends http.Agent>(agent: A): A {
    // Node's typings say void; Node keeps the socket only when it returns true (documented).
    const keepSocketAlive = agent.keepSocketAlive.bind(agent) as (socket: Duplex) => boolean;
    // Node calls this as a request frees its socket; overriding it is how Node means agents to be tuned.
    agent.keepSocketAlive = (socket: Duplex): boolean => {
      const idleLimitMs = Math.min(IDLE_SOCKET_TIMEOUT_MS, this.serverIdleLimitMs(socket));
      if (idleLimitMs <= 0 || !keepSocketAlive(socket)) return false;
      // A request, an answer or an error keeps its socket, which may carry another request (and its token) from
      // now on: whatever logs or serialises one of them sees the socket as a summary.
      if (!this.closeAt.has(socket)) inspectAs(socket, () => ({}));
      if (!this.timer) {
        this.readAt = this.clock.now();
        this.timer = this.clock.setTimeout(this.sweep, IDLE_SWEEP_INTERVAL_MS);
      }
      this.closeAt.set(socket, this.readAt + idleLimitMs - IDLE_SWEEP_INTERVAL_MS);
      return true;
    };
    // Node's `ClientRequest` asks the agent for a socket here (not in Node's documented API, but its entry
    // point since Node 0.x): the one moment to close sockets a held-up sweep would have closed by now.
    const agentWithRequests = agent as unknown as AgentTakingRequests;
    const addRequest = agentWithRequests.addRequest.bind(agent);
    agentWithRequests.addRequest = (...args) => {
      if (this.timer) {
        const now = this.clock.now();
        if (now >= this.readAt + IDLE_SWEEP_INTERVAL_MS) this.closeIdle(now);
      }
      return addRequest(...args);
    };
    this.agents.push(agent);
    return agent;
  }

  close(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly sweep = (): void => {
    this.timer = undefined;
    if (this.closeIdle(this.clock.now()) > 0) this.timer = this.clock.setTimeout(this.sweep, IDLE_SWEEP_INTERVAL_MS);
  };

  /** Closes the sockets idle past their time as of `now`; returns how many stay idle. */
  private closeIdle(now: number): number {
    this.readAt = now;
    let stillIdle = 0;
    for (const agent of this.agents) {
      const freeSockets = agent.freeSockets as Record<string, Duplex[] | undefined>;
      for (const [name, sockets = []] of Object.entries(freeSockets)) {
        const kept: Duplex[] = [];
        for (const socket of sockets) {
          if ((this.closeAt.get(socket) ?? 0) > now) kept.push(socket);
          else socket.destroy();
        }
        stillIdle += kept.length;
        if (kept.length === sockets.length) continue;
        // The agent drops a destroyed socket as it closes, a turn later: a request before then must not be given it.
        if (kept.length > 0) freeSockets[name] = kept;
        else delete freeSockets[name];
      }
    }
    return stillIdle;
  }

  /**
   * How long the server lets the socket sit idle: a second less than the shortest `timeout=N` of its
   * `Keep-Alive` header (0: do not keep it), or `Infinity` when it announces none.
   */
  private serverIdleLimitMs(socket: Duplex): number {
    const hint = (socket as SocketWithLastMessage)._httpMessage?.res?.headers?.['keep-alive'];
    if (typeof hint !== 'string') return Number.POSITIVE_INFINITY;
    if (hint !== this.lastHint) {
      // Parameters in any order and case, spaced or repeated (two headers arrive joined by a comma).
      const seconds = [...hint.matchAll(/(?:^|[,;])\s*timeout\s*=\s*(\d+)/gi)].map((match) => Number(match[1]));
      this.lastHint = hint;
      this.lastHintLimitMs = seconds.length === 0 ? Number.POSITIVE_INFINITY : Math.max(0, Math.min(...seconds) * 1_000 - 1_000);
    }
    return this.lastHintLimitMs;
  }
}

/** Where Node's `ClientRequest` asks an agent for a socket. */
interface AgentTakingRequests {
  addRequest(...args: unknown[]): unknown;
}

/** The response a freed socket last carried; Node's own `keepSocketAlive` reads the same field. */
interface SocketWithLastMessage {
  _httpMessage?: { res?: { headers?: Record<string, string | string[] | undefined> } };
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

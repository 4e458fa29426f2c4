import * as http from 'node:http';
import * as https from 'node:https';
import type { HttpService } from '@nestjs/axios';
import axios, { type AxiosInstance, type CreateAxiosDefaults } from 'axios';

/** An axios instance of the library's own (never axios' global default) and the sockets it keeps. */
export interface OwnAxios {
  readonly instance: AxiosInstance;
  /** Closes every kept-alive socket; call on application shutdown. */
  destroy(): void;
}

/** Creates an axios instance with its own keep-alive agents, so its sockets can be released on shutdown. */
export function createOwnAxios(defaults: CreateAxiosDefaults): OwnAxios {
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true });
  return {
    instance: axios.create({ ...defaults, httpAgent, httpsAgent }),
    destroy: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
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

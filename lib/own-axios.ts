import * as http from 'node:http';
import * as https from 'node:https';
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

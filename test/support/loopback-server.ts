import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A purpose-built loopback server for one fault, closed with every connection it holds. */
export interface LoopbackServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts `handler` on `host` (a loopback address) and `port` (default: any free one). */
export async function startLoopbackServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  host = '127.0.0.1',
  port = 0,
): Promise<LoopbackServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A free loopback port, found by listening on port 0 and closing again (nothing listens there afterwards). */
export async function freeLoopbackPort(): Promise<number> {
  const server = await startLoopbackServer(() => undefined);
  await server.close();
  return Number(new URL(server.url).port);
}

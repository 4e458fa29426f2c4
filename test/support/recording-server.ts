import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback server that is not Genesys: answers 200 and keeps the headers of every request. */
export interface RecordingServer {
  readonly url: string;
  readonly received: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** Starts one on `host` (a loopback address) and `port` (default: any free one). */
export async function startRecordingServer(host = '127.0.0.1', port = 0): Promise<RecordingServer> {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    received.push(request.headers);
    response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"foreign":true}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

import type { IncomingHttpHeaders } from 'node:http';
import { startLoopbackServer, type LoopbackServer } from './loopback-server.js';

/** A loopback server that is not Genesys: answers 200 and keeps the headers of every request. */
export interface RecordingServer extends LoopbackServer {
  readonly received: IncomingHttpHeaders[];
}

/** Starts one on `host` (a loopback address) and `port` (default: any free one), answering `status`. */
export async function startRecordingServer(host = '127.0.0.1', port = 0, status = 200): Promise<RecordingServer> {
  const received: IncomingHttpHeaders[] = [];
  const server = await startLoopbackServer(
    (request, response) => {
      received.push(request.headers);
      response.writeHead(status, { 'Content-Type': 'application/json' }).end('{"foreign":true}');
    },
    host,
    port,
  );
  return { ...server, received };
}

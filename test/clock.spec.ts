import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from '@jest/globals';
import { settleWithin, systemClock } from '../lib/clock.js';

let server: Server | undefined;
let client: Socket | undefined;
afterEach(async () => {
  client?.destroy();
  server?.close();
  client = server = undefined;
});

/** A loopback socket with `answer` waiting unread in the kernel: `read()` takes it, in a later turn of the event loop. */
async function socketWithUnreadAnswer(answer: string): Promise<{ read: () => Promise<string> }> {
  server = createServer((socket) => socket.write(answer));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = (client = connect((server.address() as AddressInfo).port, '127.0.0.1'));
  socket.pause();
  await once(socket, 'connect');
  await new Promise((resolve) => setTimeout(resolve, 50)); // the answer is written meanwhile
  return {
    read: () => {
      const answered = once(socket, 'data').then(([data]) => String(data));
      socket.resume();
      return answered;
    },
  };
}

function stallEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

it('settleWithin gives an answer that arrived in time while the event loop was stalled past the deadline', async () => {
  const { read } = await socketWithUnreadAnswer('in time');

  // Stalled in the loop's check phase: its next turn fires the due timers first, then reads sockets.
  const outcome = new Promise<string>((resolve, reject) =>
    setImmediate(() => {
      settleWithin(read(), 20, systemClock, 'too late').then(resolve, reject);
      stallEventLoop(200);
    }),
  );

  await expect(outcome).resolves.toBe('in time');
});

it('settleWithin rejects with its message when nothing answers by the deadline', async () => {
  await expect(settleWithin(new Promise<never>(() => undefined), 20, systemClock, 'too late')).rejects.toThrow('too late');
});

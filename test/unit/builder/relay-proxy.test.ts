// The relay proxy on real loopback sockets: it lets a CONNECT to an allowed 127.0.0.1 port through in
// both directions (also when the client sends greeting, request and data in one write, or byte by
// byte), and refuses everything else without connecting anywhere.
import test from 'ava';
import net from 'node:net';
import { parseRequest, startRelayProxy } from '../../../builder/relay-proxy.ts';

/** An echo server on loopback that counts its connections. */
async function echoServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

function connectRequest(host: number[], port: number): Buffer {
  return Buffer.from([5, 1, 0, 1, ...host, port >> 8, port & 0xff]);
}

/** Sends `chunks` one by one to the proxy; resolves with all it answered once it closes or `until` holds. */
function talk(port: number, chunks: Buffer[], until?: (received: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      if (until?.(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
}

test('a CONNECT to an allowed relay port is piped both ways, whole or byte by byte', async (t) => {
  const echo = await echoServer();
  const proxy = await startRelayProxy([echo.port]);
  t.teardown(async () => {
    await proxy.close();
    await echo.close();
  });
  const payload = Buffer.from('hello relay');
  // greeting (no auth), request, then data, all in one write
  const whole = await talk(proxy.port, [Buffer.concat([Buffer.from([5, 1, 0]), connectRequest([127, 0, 0, 1], echo.port), payload])], (r) => r.length >= 2 + 10 + payload.length);
  t.deepEqual([...whole.subarray(0, 2)], [5, 0]);
  t.is(whole[3], 0, 'the CONNECT succeeded');
  t.is(whole.subarray(12).toString(), 'hello relay');
  // the same, a byte at a time
  const bytes = [...Buffer.concat([Buffer.from([5, 2, 2, 0]), connectRequest([127, 0, 0, 1], echo.port), payload])].map((b) => Buffer.from([b]));
  const slow = await talk(proxy.port, bytes, (r) => r.length >= 2 + 10 + payload.length);
  t.is(slow.subarray(12).toString(), 'hello relay');
  t.is(echo.connections(), 2);
  t.deepEqual(proxy.refused, []);
});

test('anything but 127.0.0.1 on an allowed port is refused, and nothing is connected', async (t) => {
  const echo = await echoServer();
  const proxy = await startRelayProxy([echo.port]);
  t.teardown(async () => {
    await proxy.close();
    await echo.close();
  });
  const greeting = Buffer.from([5, 1, 0]);
  const asks: Array<[Buffer, number, string]> = [
    [connectRequest([127, 0, 0, 1], echo.port === 1 ? 2 : 1), 2, 'another port on loopback'],
    [connectRequest([10, 0, 2, 2], echo.port), 2, 'another address (qemu\'s host alias)'],
    [connectRequest([8, 8, 8, 8], echo.port), 2, 'a public address'],
    [Buffer.from([5, 1, 0, 3, 9, ...Buffer.from('localhost'), echo.port >> 8, echo.port & 0xff]), 8, 'a name'],
    [Buffer.from([5, 1, 0, 4, ...new Array(15).fill(0), 1, echo.port >> 8, echo.port & 0xff]), 8, 'an IPv6 address'],
    [Buffer.from([5, 2, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 0xff]), 7, 'BIND'],
  ];
  for (const [request, code, what] of asks) {
    const answer = await talk(proxy.port, [greeting, request]);
    t.deepEqual([...answer.subarray(0, 2)], [5, 0], what);
    t.is(answer[3], code, what);
  }
  t.is(echo.connections(), 0);
  t.is(proxy.refused.length, asks.length);
  t.true(proxy.refused.includes('8.8.8.8:' + echo.port));
});

test('a client that offers no method without authentication, or speaks no SOCKS5, is turned away', async (t) => {
  const proxy = await startRelayProxy([1]);
  t.teardown(() => proxy.close());
  t.deepEqual([...(await talk(proxy.port, [Buffer.from([5, 1, 2])]))], [5, 0xff]);
  t.is((await talk(proxy.port, [Buffer.from('GET / HTTP/1.1\r\n\r\n')])).length, 0);
});

test('a refused relay port (nothing listening) is answered "connection refused"', async (t) => {
  const echo = await echoServer();
  const closedPort = echo.port;
  await echo.close();
  const proxy = await startRelayProxy([closedPort]);
  t.teardown(() => proxy.close());
  const answer = await talk(proxy.port, [Buffer.from([5, 1, 0]), connectRequest([127, 0, 0, 1], closedPort)]);
  t.is(answer[3], 5);
});

test('parseRequest waits for the whole request', (t) => {
  const full = connectRequest([127, 0, 0, 1], 5000);
  t.is(parseRequest(full.subarray(0, 6)), undefined);
  t.deepEqual(parseRequest(full), { length: 10, command: 1, host: '127.0.0.1', port: 5000, addressType: 1 });
});

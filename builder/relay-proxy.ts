// Owns how a booted image's tor reaches the private Tor network (DESIGN §7). That network's
// authorities and relays listen on the host's 127.0.0.1 and say so in the consensus, but a qemu
// guest's 127.0.0.1 is the guest itself. So the image's tor (grid.json tor.testNetwork.socks5Proxy,
// tor's own `Socks5Proxy` option) makes every OR connection through this SOCKS5 proxy, which
// `sysback boot` runs on the host's loopback for as long as the guest lives; qemu's guestfwd and the
// nspawn namespace (builder/grid-reach.ts) lead the guest's GUEST:PORT to it.
// Contract: CONNECT only (no BIND, no UDP), no authentication, and only to 127.0.0.1 on the ports
// it was given (the network's OR and Dir ports); anything else is answered "not allowed by ruleset"
// and closed without a connection, so no guest can use it to reach anything but our relays.
// Written here rather than taken from npm: the allowlist is the point, and the protocol part it
// needs (RFC 1928, CONNECT with an IPv4 address) is a few dozen lines.
import net from 'node:net';

export interface RelayProxy {
  port: number;
  /** connections refused so far, with what they asked for (for the boot's log) */
  refused: string[];
  close(): Promise<void>;
}

const VERSION = 5;
const NO_AUTH = 0;
const CONNECT = 1;
const IPV4 = 1;
const DOMAIN = 3;
const IPV6 = 4;
const REPLY = { ok: 0, failure: 1, notAllowed: 2, refused: 5, commandNotSupported: 7, addressNotSupported: 8 } as const;

function reply(code: number): Buffer {
  return Buffer.from([VERSION, code, 0, IPV4, 0, 0, 0, 0, 0, 0]);
}

/** What a request asks for, once `buffer` holds it whole; undefined while it is still short. */
export function parseRequest(buffer: Buffer): { length: number; command: number; host: string; port: number; addressType: number } | undefined {
  if (buffer.length < 5) return undefined;
  const addressType = buffer[3]!;
  const addressLength = addressType === IPV4 ? 4 : addressType === IPV6 ? 16 : addressType === DOMAIN ? 1 + buffer[4]! : 0;
  const length = 4 + addressLength + 2;
  if (addressLength === 0) return { length: buffer.length, command: buffer[1]!, host: '', port: 0, addressType };
  if (buffer.length < length) return undefined;
  const address = buffer.subarray(4, 4 + addressLength);
  const host = addressType === IPV4 ? [...address].join('.') : addressType === DOMAIN ? address.subarray(1).toString('latin1') : address.toString('hex');
  return { length, command: buffer[1]!, host, port: buffer.readUInt16BE(4 + addressLength), addressType };
}

/** Starts the proxy on 127.0.0.1 (a free port); it lets CONNECTs through to 127.0.0.1:P for P in `ports` only. */
export async function startRelayProxy(ports: readonly number[]): Promise<RelayProxy> {
  const allowed = new Set(ports);
  const refused: string[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    let buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'request' | 'piping' = 'greeting';
    const refuse = (code: number, what: string) => {
      refused.push(what);
      client.end(reply(code));
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 'greeting') {
        if (buffer.length < 2) return;
        if (buffer[0] !== VERSION) return void client.destroy();
        const methods = buffer[1]!;
        if (buffer.length < 2 + methods) return;
        const offered = buffer.subarray(2, 2 + methods);
        buffer = buffer.subarray(2 + methods);
        if (!offered.includes(NO_AUTH)) return void client.end(Buffer.from([VERSION, 0xff]));
        client.write(Buffer.from([VERSION, NO_AUTH]));
        stage = 'request';
      }
      if (stage === 'request') {
        if (buffer.length > 0 && buffer[0] !== VERSION) return void client.destroy();
        const request = parseRequest(buffer);
        if (!request) return;
        if (request.command !== CONNECT) return refuse(REPLY.commandNotSupported, `command ${request.command}`);
        if (request.addressType !== IPV4) return refuse(REPLY.addressNotSupported, `address type ${request.addressType} (${request.host})`);
        if (request.host !== '127.0.0.1' || !allowed.has(request.port)) return refuse(REPLY.notAllowed, `${request.host}:${request.port}`);
        stage = 'piping';
        client.off('data', onData);
        client.pause();
        const rest = buffer.subarray(request.length);
        const upstream = net.connect({ host: '127.0.0.1', port: request.port });
        let connected = false;
        open.add(upstream);
        upstream.on('close', () => {
          open.delete(upstream);
          if (connected) client.destroy();
        });
        upstream.on('error', () => {
          if (!connected) client.end(reply(REPLY.refused));
          upstream.destroy();
        });
        upstream.once('connect', () => {
          connected = true;
          client.write(reply(REPLY.ok));
          if (rest.length > 0) upstream.write(rest);
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
        client.on('close', () => upstream.destroy());
      }
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    refused,
    close: () => new Promise<void>((resolve) => {
      for (const socket of open) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

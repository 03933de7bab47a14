// Owns talking to a tor's control port on loopback: one connection, authenticated the way that tor
// asks (PROTOCOLINFO: NULL, or COOKIE / SAFECOOKIE read as a plain cookie from the file it names —
// the device's system tor uses a cookie), a few commands, and the whole reply as text. Used to wait for
// bootstrap (the device's "once Tor is ready") and by the private test network.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** How to authenticate, from a PROTOCOLINFO reply (pure). */
export function authenticateCommand(protocolInfo: string, readCookie: (file: string) => Buffer = readFileSync): string {
  const methods = /METHODS=([A-Z,]+)/.exec(protocolInfo)?.[1]?.split(',') ?? [];
  if (methods.includes('NULL') || methods.length === 0) return 'AUTHENTICATE';
  const cookieFile = /COOKIEFILE="((?:[^"\\]|\\.)*)"/.exec(protocolInfo)?.[1]?.replace(/\\(.)/g, '$1');
  if ((methods.includes('COOKIE') || methods.includes('SAFECOOKIE')) && cookieFile) {
    return `AUTHENTICATE ${readCookie(cookieFile).toString('hex')}`;
  }
  return 'AUTHENTICATE';
}

export function torControl(port: number, commands: readonly string[], options: { host?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: options.host ?? '127.0.0.1', port });
    let text = '';
    let authenticated = false;
    const timer = setTimeout(() => socket.destroy(new Error('the tor control port did not answer in time')), options.timeoutMs ?? 5000);
    socket.on('connect', () => socket.write('PROTOCOLINFO 1\r\n'));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (!authenticated && /^250 OK\r?$/m.test(text)) {
        authenticated = true;
        let auth: string;
        try {
          auth = authenticateCommand(text);
        } catch (error) {
          socket.destroy(error as Error);
          return;
        }
        socket.write([auth, ...commands, 'QUIT'].map((c) => `${c}\r\n`).join(''));
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** Tor's bootstrap progress in percent, from `GETINFO status/bootstrap-phase`. */
export function bootstrapProgress(reply: string): number | undefined {
  const progress = /PROGRESS=(\d+)/.exec(reply)?.[1];
  return progress === undefined ? undefined : Number(progress);
}

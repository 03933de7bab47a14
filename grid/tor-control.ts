// Owns talking to a tor's control port on loopback: one connection, NULL authentication (the
// control ports sysback uses listen on 127.0.0.1 only), a few commands, the whole reply as text.
// Used to wait for bootstrap (the device's "once Tor is ready") and by the private test network.
import net from 'node:net';

export function torControl(port: number, commands: readonly string[], options: { host?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: options.host ?? '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('the tor control port did not answer in time')), options.timeoutMs ?? 5000);
    socket.on('connect', () => socket.write(['AUTHENTICATE', ...commands, 'QUIT'].map((c) => `${c}\r\n`).join('')));
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
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

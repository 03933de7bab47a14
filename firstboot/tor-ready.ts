// Owns "once Tor is ready" (the seed: start the Tahoe nodes only once Tor is ready): asks the system
// tor's control port for its bootstrap progress until it reports 100 %, with a bound. Only used when
// the grid listens over Tor; a grid on plain TCP never waits.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../core/context.ts';
import type { DeviceConfig } from '../core/config/device-config.ts';
import { GridUnreachableError } from '../core/errors.ts';

/** Sends control-port commands on one connection and returns the whole reply text. */
export function torControl(host: string, port: number, commands: readonly string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host, port });
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), timeoutMs);
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

export async function waitForTor(ctx: Context, config: DeviceConfig, timeoutMs = 300_000): Promise<void> {
  const endpoint = /^tcp:([^:]+):(\d+)$/.exec(config.grid.tor?.controlPort ?? '');
  if (!endpoint) return;
  const [, host, port] = endpoint;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const reply = await torControl(host!, Number(port), ['GETINFO status/bootstrap-phase']);
      const progress = /PROGRESS=(\d+)/.exec(reply)?.[1];
      if (progress === '100') return;
      if (progress && progress !== last) ctx.log.info(`  waiting for Tor: ${progress} %`);
      last = progress ?? last;
    } catch {
      // tor not up yet
    }
    await sleep(1000);
  }
  throw new GridUnreachableError(`Tor did not finish bootstrapping within ${Math.round(timeoutMs / 1000)} s`, 'check the tor service: systemctl status tor');
}

// Owns choosing and checking TCP ports on 127.0.0.1 (the only address sysback's tests and local
// grids listen on). Contract: `freePorts(n)` returns n distinct ports that were free a moment ago;
// `assertPortFree` names the port and its owner in the error when it is taken.
import net from 'node:net';
import { UserError } from './errors.ts';

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(chosen));
    });
  });
}

/**
 * Ports are drawn at random below Linux's ephemeral range (32768+): the kernel's own "any free port"
 * hands the same freshly closed ports to processes asking at the same moment (two grids starting
 * side by side), and a listening port in the ephemeral range can collide with outgoing connections.
 */
const RANGE = { low: 20000, high: 32000 };

export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    const port = RANGE.low + Math.floor(Math.random() * (RANGE.high - RANGE.low));
    if (ports.has(port)) continue;
    if (tries > count * 50) ports.add(await listenOnce(0));
    else if (await isPortFree(port)) ports.add(port);
  }
  return [...ports];
}

export async function isPortFree(port: number): Promise<boolean> {
  try {
    await listenOnce(port);
    return true;
  } catch {
    return false;
  }
}

export async function assertPortFree(port: number, owner: string): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new UserError(
      `port 127.0.0.1:${port}, needed by ${owner}, is already in use by another program`,
      'stop that program, or run `sysback grid init` again in a new directory to get new ports',
    );
  }
}

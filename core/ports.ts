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

export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await listenOnce(0));
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

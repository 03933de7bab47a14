// Owns "once Tor is ready" (the seed: start the Tahoe nodes only once Tor is ready): asks the system
// tor's control port for its bootstrap progress until it reports 100 %, with a bound. Only used when
// the grid listens over Tor; a grid on plain TCP never waits.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../core/context.ts';
import type { DeviceConfig } from '../core/config/device-config.ts';
import { GridUnreachableError } from '../core/errors.ts';
import { bootstrapProgress, torControl } from '../grid/tor-control.ts';

export async function waitForTor(ctx: Context, config: DeviceConfig, timeoutMs = 300_000): Promise<void> {
  const endpoint = /^tcp:([^:]+):(\d+)$/.exec(config.grid.tor?.controlPort ?? '');
  if (!endpoint) return;
  const [, host, port] = endpoint;
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  while (Date.now() < deadline) {
    try {
      const progress = bootstrapProgress(await torControl(Number(port), ['GETINFO status/bootstrap-phase'], { host: host! }));
      if (progress === 100) return;
      if (progress !== undefined && progress !== last) ctx.log.info(`  waiting for Tor: ${progress} %`);
      last = progress ?? last;
    } catch {
      // tor not up yet
    }
    await sleep(1000);
  }
  throw new GridUnreachableError(`Tor did not finish bootstrapping within ${Math.round(timeoutMs / 1000)} s`, 'check the tor service: systemctl status tor');
}

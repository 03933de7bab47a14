// Owns "once Tor is ready" (the seed: start the Tahoe nodes only once Tor is ready): asks the system
// tor's control port for its bootstrap progress until it reports 100 %, with a bound, saying the
// percentage at least every 10 s (never a silent wait). Used by the first-boot flow and, on every
// boot, by sysback-tahoe@.service's ExecStartPre (`sysback node wait-tor`). A grid on plain TCP never
// waits.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../core/context.ts';
import { readDeviceConfig, type DeviceConfig } from '../core/config/device-config.ts';
import { GridUnreachableError, UserError } from '../core/errors.ts';
import { bootstrapProgress, torControl } from './tor-control.ts';

export async function waitForTor(ctx: Context, config: DeviceConfig, timeoutMs = 300_000): Promise<void> {
  const endpoint = config.grid.tor?.controlPort;
  if (!endpoint) return;
  await waitForTorAt(ctx, endpoint, timeoutMs);
}

/** Waits for the tor at `endpoint` (tcp:HOST:PORT; default: the device config's) to reach 100 %. */
export async function waitForTorAt(ctx: Context, endpoint: string | undefined, timeoutMs: number): Promise<void> {
  const where = endpoint ?? readDeviceConfig(ctx).grid.tor?.controlPort;
  if (!where) {
    ctx.log.info('this grid does not use Tor: nothing to wait for');
    return;
  }
  const parsed = /^tcp:([^:]+):(\d+)$/.exec(where);
  if (!parsed) throw new UserError(`not a tor control endpoint: ${where}`, 'write it as tcp:127.0.0.1:PORT');
  const [, host, port] = parsed;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let last: number | undefined;
  let said = 0;
  while (Date.now() < deadline) {
    let progress: number | undefined;
    try {
      progress = bootstrapProgress(await torControl(Number(port), ['GETINFO status/bootstrap-phase'], { host: host! }));
    } catch {
      // tor not up yet
    }
    if (progress === 100) {
      ctx.log.info(`  Tor is ready (bootstrap 100 % after ${Math.round((Date.now() - started) / 1000)} s)`);
      return;
    }
    if (progress !== last || Date.now() - said >= 10_000) {
      const left = Math.round((deadline - Date.now()) / 1000);
      ctx.log.info(`  waiting for Tor: ${progress === undefined ? 'not answering yet' : `bootstrap ${progress} %`} (trying for ${left} s more)`);
      said = Date.now();
    }
    last = progress ?? last;
    await sleep(1000);
  }
  throw new GridUnreachableError(`Tor did not finish bootstrapping within ${Math.round(timeoutMs / 1000)} s`, 'check the tor service: systemctl status tor@default');
}

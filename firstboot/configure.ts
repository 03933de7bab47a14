// The "new" flow: the seed's configuration script, its steps and letters exactly as the seed lists
// them in "new installation mode" (DESIGN §2 journey 4):
//   a) cron runs the periodic backup (every 240 h by default)
//   b) a new private Tahoe node configured and started (once Tor is ready)   firstboot/steps/b-*.ts
//   c) the public Tahoe node configured and started
//   d) the encrypted identity file created in the public area (alias + password)   steps/d-*.ts
//   e) one instance of the backup to the private area, verified (backup/run-backup.ts), with the
//      full share verification, so the state's schedule of it starts here
//   f) reboot, opened by the recovery card and the state file                     steps/f-*.ts
// Each step is timed, logged and reported as a StepEvent (core/steps.ts, flow "configure").
// Contract: the state file is written only when every step before the reboot succeeded, so an
// interrupted first boot asks again; a rerun resumes safely (nodes, areas and the alias made by an
// earlier attempt are reused, never duplicated; the cron line is replaced, not added); a failure
// says which step failed. The grid is reached only through the context's Device.
import os from 'node:os';
import type { Prompter } from '../core/prompter.ts';
import { flowSteps } from '../core/steps.ts';
import { runBackup } from '../backup/run-backup.ts';
import type { DeviceContext } from '../grid/device.ts';
import { ensureAdminAccess } from './admin-access.ts';
import { installCronEntry } from './cron-entry.ts';
import { RESUME_HINT, type FlowOptions } from './flows.ts';
import { startPrivateNode } from './steps/b-private-node.ts';
import { publishNewIdentity } from './steps/d-identity.ts';
import { showCardAndReboot } from './steps/f-card-and-reboot.ts';

export async function runConfigure(ctx: DeviceContext, prompter: Prompter, options: FlowOptions): Promise<void> {
  const { device } = ctx;
  const config = device.config();
  const nickname = os.hostname();
  const steps = flowSteps(ctx, 'configure', { resumeHint: RESUME_HINT });

  await steps.step('a', 'periodic backup in cron', () => installCronEntry(ctx, config.backup.intervalHours));

  await steps.step('b', 'private Tahoe node', () => startPrivateNode(ctx, nickname));

  const publicApi = await steps.step('c', 'public Tahoe node', async () => {
    await device.nodes.ensure('public', `${nickname}-public`);
    const api = await device.nodes.start('public');
    await device.nodes.waitForHappy(api);
    return api;
  });

  // the owner's way in (SSH key, console password) is chosen with their alias and password, and before
  // the first backup, so the backup carries it and a recovery brings it back
  const identity = await steps.step('d', 'identity file in the public area', async () => {
    const published = await publishNewIdentity(ctx, prompter, publicApi);
    await steps.part('d', 'admin access', () => ensureAdminAccess(ctx, prompter, options));
    return published;
  });

  // verified as every run is, plus the full share verification, so its schedule starts here
  const backup = await steps.step('e', 'first backup, verified', () => runBackup(ctx, { skipLeases: true, firstBoot: true }));

  await steps.step('f', 'recovery card, then reboot', () =>
    showCardAndReboot(ctx, prompter, { ...identity, lastGoodBackup: backup.latest, ...(backup.verify ? { verify: backup.verify } : {}) }, options));
}

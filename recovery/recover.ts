// The "recover" flow: the seed's recover script, its steps and letters exactly as the seed's RESTORE
// lists them (DESIGN §2 journey 6):
//   a) the public node started, the public area's aliases listed   (not listed for a recovery card)
//   b) the person selects theirs (or types a card's read cap)        recovery/steps/b-select.ts
//   c) password, bounded retries, each tried on the identity file    steps/c-password.ts
//   d) decrypted: the private node's keys back in a fresh node       steps/d-keys.ts
//   e) the private area reached: the router's own new private directory with the old generations
//      linked in (one writer per mutable directory); with the web API through the public node, the
//      private node starting in g); with the mount transport the private node is started here
//                                                                   steps/e-private-area.ts
//   f) the manifest read, a generation chosen, downloaded, verified and extracted to / with full
//      paths, safely                                                steps/f-extract.ts
//   g) reboot, opened by the identity re-published for the new directory, the cron line and the
//      state                                                        steps/g-take-over.ts
// Each step is timed, logged and reported as a StepEvent (core/steps.ts, flow "recover").
// The private node's directory is made while a) starts the public node (it gets its keys in d),
// before its first start); d), e) and f) then run one after the other.
// The reads a), b), e) and f) cannot go on without (the aliases, the identity, the old latest and
// manifest, the archive) wait for the servers holding the lost router's shares, saying so
// (patient-reads.ts).
// Contract: nothing under the root changes before the password is accepted and the archive verified;
// the old router's directory is never written; the state is written last, so an interrupted recovery
// asks again and a rerun resumes (the fresh directory made by an earlier attempt is reused).
// `--dry-run` writes nothing on the grid and leaves no node running: the old private directory is
// read through the public node (no private node gets the keys, no fresh directory is made), the
// plan is printed, and the public node is stopped. The one thing it makes is the public node's
// directory under /var/lib/sysback/tahoe (a node is needed to read the grid at all).
// The grid is reached only through the context's Device.
import type { Prompter } from '../core/prompter.ts';
import { flowSteps, type FlowSteps } from '../core/steps.ts';
import { RESUME_HINT, type FlowOptions } from '../firstboot/flows.ts';
import { waitForTor } from '../grid/tor-ready.ts';
import type { DeviceContext } from '../grid/device.ts';
import { listAliases } from '../grid/public-area.ts';
import { recoveryReads } from './patient-reads.ts';
import { selectIdentity } from './steps/b-select.ts';
import { askPassword } from './steps/c-password.ts';
import { type BlankPrivateNode, discardBlankPrivateNode, installRecoveredKeys, prepareBlankPrivateNode } from './steps/d-keys.ts';
import { openPrivateArea, type PrivateArea } from './steps/e-private-area.ts';
import { extractBackup } from './steps/f-extract.ts';
import { takeOverAndReboot } from './steps/g-take-over.ts';

export { PASSWORD_ATTEMPTS } from './steps/c-password.ts';

/** The recover flow's options (FlowOptions carries `dryRun`). */
export type RecoverOptions = FlowOptions;

export async function runRecover(ctx: DeviceContext, prompter: Prompter, options: RecoverOptions): Promise<void> {
  const { device } = ctx;
  const steps = flowSteps(ctx, 'recover', { resumeHint: RESUME_HINT });
  // a dry run stops what it started, and only that
  const wasRunning = options.dryRun ? { public: await device.nodes.running('public'), private: await device.nodes.running('private') } : undefined;
  try {
    await recoverSteps(ctx, prompter, options, steps);
  } finally {
    if (wasRunning) {
      if (!wasRunning.private) await device.nodes.stop('private');
      if (!wasRunning.public) await device.nodes.stop('public');
    }
  }
}

async function recoverSteps(ctx: DeviceContext, prompter: Prompter, options: RecoverOptions, steps: FlowSteps): Promise<void> {
  const early: { blank?: BlankPrivateNode | undefined } = {};
  try {
    return await recoverWith(ctx, prompter, options, steps, early);
  } catch (error) {
    await discardBlankPrivateNode(ctx, early.blank); // prepared in a), never given keys
    throw error;
  }
}

async function recoverWith(
  ctx: DeviceContext,
  prompter: Prompter,
  options: RecoverOptions,
  steps: FlowSteps,
  /** the private node directory a) prepares, until d) has given it its keys */
  early: { blank?: BlankPrivateNode | undefined },
): Promise<void> {
  const { device } = ctx;
  const config = device.config();
  const { publicApi, aliases } = await steps.step('a', 'public node, aliases listed', async () => {
    if (config.grid.listen === 'tor') await waitForTor(ctx, config);
    // the private node's directory is made meanwhile (it gets its keys in d), before its first start)
    if (!options.dryRun) early.blank = prepareBlankPrivateNode(ctx);
    await steps.part('a', 'creating the public node', () => device.nodes.ensure('public', 'recovering-public'));
    const api = await steps.part('a', 'starting the public node', () => device.nodes.start('public'));
    await steps.part('a', 'waiting for servers', () => device.nodes.waitForHappy(api));
    if (options.answers?.recoveryCard) return { publicApi: api, aliases: undefined };
    const aliases = await steps.part('a', 'listing the aliases', () => listAliases(api, config.grid.publicDirectory, recoveryReads(ctx, prompter, api, 'public')));
    prompter.say(`${aliases.length} routers have published an identity on this grid.`);
    return { publicApi: api, aliases };
  });

  const armored = await steps.step('b', 'identity selected', () => selectIdentity(prompter, publicApi, config.grid.publicDirectory, aliases, options, recoveryReads(ctx, prompter, publicApi, 'public')));

  const opened = await steps.step('c', 'password', () => askPassword(prompter, armored));
  prompter.say(`Identity of "${opened.identity.alias}" opened.`);

  const oldCap = opened.identity.private.dircap;
  if (options.dryRun) {
    steps.skip('d', 'decrypted: the private node gets the recovered keys', 'dry run: no node is made or changed');
    const area = await steps.step('e', 'private area reached, read only (dry run)', async () => ({ api: publicApi, oldCap, newCap: oldCap, privateNodeStarted: false }));
    await steps.step('f', 'backup restored to the root', () => extractBackup(ctx, prompter, area, options, recoveryReads(ctx, prompter, publicApi, 'public')));
    prompter.say('Dry run: nothing under the root was changed.');
    return;
  }

  const privateArea = async () => {
    await steps.step('d', 'decrypted: the private node gets the recovered keys', async () => {
      await installRecoveredKeys(ctx, opened.identity, early.blank);
      early.blank = undefined; // it holds the keys now: a later failure keeps it, a rerun reuses it
    });
    return steps.step('e', 'private area reached, a fresh private directory', () => openPrivateArea(ctx, oldCap, config, (name, fn) => steps.part('e', name, fn), publicApi, recoveryReads(ctx, prompter, publicApi, 'public')));
  };
  // d) and e) end before f) begins, and no node starts while f) writes: they once overlapped (the
  // private node starting while f) read through the public node), and the fault campaign (seed 2026,
  // disk-full-staging) filled the disk during that start; the node did not start again on the rerun.
  // Now, with the web API, the private node starts only in g), after the restore (issue 9); its
  // directory is still made ahead, in a).
  const area: PrivateArea = await privateArea();
  const { generation } = await steps.step('f', 'backup restored to the root', () => extractBackup(ctx, prompter, area, options, recoveryReads(ctx, prompter, area.api, area.privateNodeStarted ? undefined : 'public')));

  await steps.step('g', 'identity re-published, then reboot', () => takeOverAndReboot(ctx, prompter, opened, publicApi, area, generation, options));
}

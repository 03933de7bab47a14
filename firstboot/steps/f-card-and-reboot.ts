// The "new" flow's step f) (the seed: "Reboot"), which sysback opens with the recovery card: the
// card (alias + the read cap of the router's own public directory) is saved under the root and shown
// on a console (a headless boot's transcript goes to the journal, which never holds a cap), then the
// state is written (the router is configured: the first-boot hook asks no more), then the reboot.
// The card belongs to f) because it must come after the verified first backup (e) and before the
// reboot, and the seed's letters stay exactly a)-f) (docs/architecture.md, "Flows as step lists").
// After the state: the identity directory's write cap leaves the disk (only its read cap stays,
// steps/identity-dir.ts) and the answers' secret is removed (issue 11 item 2), then the reboot.
import { writeFileAtomic } from '../../core/atomic-write.ts';
import { removeAnswersSecret } from '../../core/config/answers.ts';
import type { Context } from '../../core/context.ts';
import { DEVICE } from '../../core/device-paths.ts';
import type { Prompter } from '../../core/prompter.ts';
import { configuredState, readState, scheduledRun, writeState, type DeviceState, type GoodBackup } from '../../core/state.ts';
import { recoveryCard } from '../../grid/public-area.ts';
import type { FlowOptions } from '../flows.ts';
import { showCardAtNextLogin } from '../card-at-login.ts';
import { rebootStep } from '../reboot.ts';
import { settleIdentityDir } from './identity-dir.ts';

/**
 * The scheduled tasks' records the state starts with. A rerun on a configured router keeps its own
 * (the first backup recorded into them). A first "new" starts both schedules now: the full
 * verification ran in e); and every share of the private area and the identity was just written by
 * this router, and a Tahoe write gives each share a lease, so the leases are new.
 */
function schedule(ctx: Context, verify: { ok: boolean; detail: string } | undefined): Pick<DeviceState, 'lastVerify' | 'lastLeaseRenewal'> {
  const previous = readState(ctx);
  if (previous) return { ...(previous.lastVerify ? { lastVerify: previous.lastVerify } : {}), ...(previous.lastLeaseRenewal ? { lastLeaseRenewal: previous.lastLeaseRenewal } : {}) };
  const time = ctx.clock.now();
  return {
    ...(verify ? { lastVerify: scheduledRun(undefined, { time, ...verify }) } : {}),
    lastLeaseRenewal: scheduledRun(undefined, { time, ok: true, detail: 'new leases: the "new" flow wrote the private area and the identity' }),
  };
}

export async function showCardAndReboot(
  ctx: Context,
  prompter: Prompter,
  done: { alias: string; readCap: string; lastGoodBackup: GoodBackup; verify?: { ok: boolean; detail: string } },
  options: Pick<FlowOptions, 'noReboot' | 'answers' | 'answersFile'>,
): Promise<void> {
  const card = recoveryCard(done.alias, done.readCap);
  await writeFileAtomic(ctx.path(DEVICE.recoveryCard), card, { mode: 0o600 });
  if (prompter.kind === 'console') {
    prompter.say(card);
    prompter.say(`This card is also saved in ${DEVICE.recoveryCard}. Keep a copy away from the router.`);
    await showCardAtNextLogin(ctx, prompter);
  } else {
    // a headless boot's transcript goes to the journal, which must never hold a cap
    prompter.say(`The recovery card is saved in ${DEVICE.recoveryCard} (not shown here: logs keep no caps). Print it.`);
  }
  await writeState(ctx, configuredState({ mode: 'new', alias: done.alias, now: ctx.clock.now(), lastGoodBackup: done.lastGoodBackup, ...schedule(ctx, done.verify) }));
  settleIdentityDir(ctx, done.readCap);
  for (const line of await removeAnswersSecret(ctx, options.answersFile, options.answers)) ctx.log.info(line);
  await rebootStep(options.noReboot)(ctx, 'the router is configured');
}

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
import { configuredState, writeState, type GoodBackup } from '../../core/state.ts';
import { recoveryCard } from '../../grid/public-area.ts';
import type { FlowOptions } from '../flows.ts';
import { rebootStep } from '../reboot.ts';
import { settleIdentityDir } from './identity-dir.ts';

export async function showCardAndReboot(
  ctx: Context,
  prompter: Prompter,
  done: { alias: string; readCap: string; lastGoodBackup: GoodBackup },
  options: Pick<FlowOptions, 'noReboot' | 'answers' | 'answersFile'>,
): Promise<void> {
  const card = recoveryCard(done.alias, done.readCap);
  await writeFileAtomic(ctx.path(DEVICE.recoveryCard), card, { mode: 0o600 });
  if (prompter.kind === 'console') {
    prompter.say(card);
    prompter.say(`This card is also saved in ${DEVICE.recoveryCard}. Keep a copy away from the router.`);
  } else {
    // a headless boot's transcript goes to the journal, which must never hold a cap
    prompter.say(`The recovery card is saved in ${DEVICE.recoveryCard} (not shown here: logs keep no caps). Print it.`);
  }
  await writeState(ctx, configuredState({ mode: 'new', alias: done.alias, now: ctx.clock.now(), lastGoodBackup: done.lastGoodBackup }));
  settleIdentityDir(ctx, done.readCap);
  for (const line of await removeAnswersSecret(ctx, options.answersFile, options.answers)) ctx.log.info(line);
  await rebootStep(options.noReboot)(ctx, 'the router is configured');
}

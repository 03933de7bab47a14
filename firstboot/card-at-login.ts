// Owns "the card does not scroll away": both flows print the recovery card on the console just before
// their reboot, and the reboot's own messages follow it at once (on a serial console without
// scrollback it is gone). So on a console the flow also leaves a marker, and after the reboot
// sysback-card-at-login.service writes the card to /run/sysback/recovery-card.issue, which
// /etc/issue.d/50-sysback-recovery-card.issue (a symlink the overlay lays) points at: agetty prints it
// above the login prompt until the next reboot, when /run is empty again and the link dangles (agetty
// skips it). The card never lives under /etc, nor in any backup (backup/files-list.ts NEVER_BACKED_UP).
// A headless run (answers file or credential) leaves no marker: nobody watched its console.
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Context } from '../core/context.ts';
import { DEVICE } from '../core/device-paths.ts';
import type { Prompter } from '../core/prompter.ts';

/** What the console says right after the card. */
export const CARD_AT_LOGIN_NOTE = 'After the reboot it is shown again above the login prompt, until the next reboot.';

/** After a flow showed the card on the console: says so, and leaves the marker the next boot reads. */
export async function showCardAtNextLogin(ctx: Context, prompter: Prompter): Promise<void> {
  prompter.say(CARD_AT_LOGIN_NOTE);
  await writeFileAtomic(ctx.path(DEVICE.cardAtLogin), '', { mode: 0o600 });
}

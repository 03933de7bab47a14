// Owns the last step of both flows: reboot. Injectable so tests never reboot anything (a chroot's
// reboot would reach the host's init): with `noReboot` it only says what it would do.
import type { Context } from '../core/context.ts';

export type RebootAction = (ctx: Context, reason: string) => Promise<void>;

export const systemReboot: RebootAction = async (ctx, reason) => {
  ctx.log.info(`rebooting: ${reason}`);
  await ctx.runner.run(['systemctl', 'reboot']);
};

export function rebootStep(noReboot: boolean, action: RebootAction = systemReboot): RebootAction {
  if (!noReboot) return action;
  return async (ctx, reason) => {
    process.stdout.write(`sysback: would reboot now (${reason}); skipped because of --no-reboot\n`);
    ctx.log.info('reboot skipped (--no-reboot)');
  };
}

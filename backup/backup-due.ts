// Owns "is a backup due?", the question cron asks every hour (`sysback backup --if-due`). Contract:
// due when there is no good backup yet, its age is unknown (dated ahead of this clock: core/backup-age.ts),
// or the last one is at least `backup.intervalHours` old. The answer "not yet" reads two small JSON
// files and loads no schema, process, grid or archive code; anything irregular in them (missing,
// unreadable, odd fields) is answered by the full, validated reading instead, so a broken state or
// config is reported exactly as every other command reports it.
import { readFileSync } from 'node:fs';
import type { Clock, Context } from '../core/context.ts';
import { backupDue as dueVerdict, type BackupTime } from '../core/backup-age.ts';
import { DEVICE } from '../core/device-paths.ts';
import { MIN_INTERVAL_HOURS } from '../core/config/interval.ts';

type DueContext = Pick<Context, 'path'> & { clock: Clock; log?: Pick<Context['log'], 'info'> };

/** The two fields the hourly question needs, read without validation; undefined when irregular. */
function quickRead(ctx: Pick<Context, 'path'>): { last: BackupTime | undefined; intervalHours: number } | undefined {
  try {
    const state = JSON.parse(readFileSync(ctx.path(DEVICE.state), 'utf8')) as { lastGoodBackup?: { time?: unknown } };
    const config = JSON.parse(readFileSync(ctx.path(DEVICE.config), 'utf8')) as { backup?: { intervalHours?: unknown } };
    const time = state.lastGoodBackup?.time;
    const interval = config.backup?.intervalHours ?? 240;
    if (typeof time !== 'string' || typeof interval !== 'number' || !(interval >= MIN_INTERVAL_HOURS)) return undefined;
    return { last: { time }, intervalHours: interval };
  } catch {
    return undefined;
  }
}

/** Due when there is no good backup yet, its age is unknown (a clock ahead), or it is at least one interval old. */
export async function backupDue(ctx: DueContext): Promise<boolean> {
  const quick = quickRead(ctx);
  const now = ctx.clock.now();
  if (quick && !dueVerdict(quick.last, quick.intervalHours, now).yes) return false;
  // due, or irregular: the validated reading decides (and reports a broken file clearly)
  const [{ readState }, { readDeviceConfig }] = await Promise.all([import('../core/state.ts'), import('../core/config/device-config.ts')]);
  const verdict = dueVerdict(readState(ctx)?.lastGoodBackup, readDeviceConfig(ctx).backup.intervalHours, now);
  if (verdict.yes) ctx.log?.info(`backup due: ${verdict.reason}`);
  return verdict.yes;
}

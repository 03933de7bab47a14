// Owns the periodic backup's cron entry (the seed's configuration step a): one managed line in root's
// crontab, /var/spool/cron/crontabs/root (which is itself always in the backup). Cron cannot say
// "every 240 hours", so the line runs hourly (every minute for an interval under an hour) and
// `sysback backup --if-due` decides from the last good backup's age: any interval works, and a failed
// backup is retried an hour later instead of 240 h later.
// Contract: idempotent (a rerun replaces the managed lines where they are, never adds a second block,
// and the same interval gives back the same bytes); other lines of the crontab are kept; the file gets cron's owner and mode (root:crontab 0600).
import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic-write.ts';
import type { Context } from '../core/context.ts';
import { DEVICE } from '../core/device-paths.ts';

export const CRON_MARKER = '# sysback: periodic backup (managed by sysback; edit backup.intervalHours in /etc/sysback/sysback.json)';

/** An interval as people say it: "240 h", "1.5 h", "30 min". */
function describeInterval(intervalHours: number): string {
  return intervalHours >= 1 ? `${intervalHours} h` : `${Math.round(intervalHours * 60 * 100) / 100} min`;
}

/**
 * The managed lines for a backup every `intervalHours` hours (pure): cron asks hourly, at `minute`;
 * for an interval under an hour it asks every minute (the answer "not yet" costs about 0.1 s).
 */
export function cronLines(intervalHours: number, minute = 17): string[] {
  const when = intervalHours < 1 ? '* * * * *' : `${minute} * * * *`;
  return [
    CRON_MARKER,
    `# backups run when the last good one is ${describeInterval(intervalHours)} old; output goes to the journal`,
    `${when} systemd-cat -t sysback /usr/bin/sysback backup --if-due`,
  ];
}

/**
 * `existing` with the managed lines replaced where they are, or appended when there are none (pure).
 * Re-installing the entry a crontab already holds gives back the same bytes (a recovered router's
 * restored crontab stays equal to the lost one's); a second managed block, if one was ever made by
 * hand, is dropped.
 */
export function withCronEntry(existing: string, intervalHours: number): string {
  const lines = existing.split('\n').filter((line, i, all) => !(i === all.length - 1 && line === ''));
  const out: string[] = [];
  let placed = false;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === CRON_MARKER) {
      i += 2; // the marker, the comment and the command line are ours
      if (!placed) out.push(...cronLines(intervalHours));
      placed = true;
      continue;
    }
    out.push(lines[i]!);
  }
  if (!placed) out.push(...cronLines(intervalHours));
  return out.join('\n') + '\n';
}

function groupId(ctx: Context, name: string): number | undefined {
  try {
    const line = readFileSync(ctx.path('/etc/group'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    const gid = line?.split(':')[2];
    return gid === undefined ? undefined : Number(gid);
  } catch {
    return undefined;
  }
}

export async function installCronEntry(ctx: Context, intervalHours: number): Promise<string> {
  const file = ctx.path(DEVICE.rootCrontab);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o1730 });
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : '';
  await writeFileAtomic(file, withCronEntry(existing, intervalHours), { mode: 0o600 });
  const crontab = groupId(ctx, 'crontab');
  if (process.getuid?.() === 0) {
    chownSync(file, 0, crontab ?? 0);
    if (crontab !== undefined) chownSync(path.dirname(file), 0, crontab);
  }
  return DEVICE.rootCrontab;
}

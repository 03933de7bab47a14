// Owns how old the last good backup is, and the two questions asked of that age: is a backup due
// (cron's hourly `--if-due`), and is the last one stale (the login banner). Pure and dependency-free:
// the hourly "not yet" loads this module and nothing heavier. Contract: a backup dated after `now`
// (a clock that was ahead, or is behind now) has an unknown age, which is due and stale, never
// "fresh"; the clock is the caller's.

/** The recorded time of a good backup (core/state.ts GoodBackup has more). */
export interface BackupTime {
  time: string;
}

export type BackupAge =
  | { kind: 'none' }
  | { kind: 'known'; hours: number }
  /** recorded later than `now`: the clock was ahead then, or is behind now */
  | { kind: 'future'; aheadHours: number };

/** How old the last good backup is by `now`. Pure. */
export function backupAge(last: BackupTime | undefined, now: Date): BackupAge {
  if (!last) return { kind: 'none' };
  const recorded = Date.parse(last.time);
  const hours = (now.getTime() - recorded) / 3_600_000;
  if (!Number.isFinite(hours)) return { kind: 'future', aheadHours: Number.POSITIVE_INFINITY };
  // a minute of slack: two clocks read within one run
  if (hours < -1 / 60) return { kind: 'future', aheadHours: -hours };
  return { kind: 'known', hours: Math.max(0, hours) };
}

export interface Verdict {
  yes: boolean;
  /** one line for a person: why */
  reason: string;
}

/** Due when there is no good backup, its age is unknown (clock), or it is at least one interval old. */
export function backupDue(last: BackupTime | undefined, intervalHours: number, now: Date): Verdict {
  const age = backupAge(last, now);
  if (age.kind === 'none') return { yes: true, reason: 'no good backup yet' };
  if (age.kind === 'future') {
    return { yes: true, reason: `the last good backup is dated ${last!.time}, after this router's clock (${now.toISOString()}): its age is unknown, so a backup is due` };
  }
  if (age.hours >= intervalHours) return { yes: true, reason: `the last good backup is ${Math.floor(age.hours)} h old (interval ${intervalHours} h)` };
  return { yes: false, reason: `the last good backup is ${Math.floor(age.hours)} h old; next due in ${Math.ceil(intervalHours - age.hours)} h` };
}

/** Stale (the login banner warns) when there is no good backup, its age is unknown, or it is older than twice the interval. */
export function isStale(last: BackupTime | undefined, intervalHours: number, now: Date): Verdict {
  const age = backupAge(last, now);
  if (age.kind === 'none') return { yes: true, reason: 'WARNING: this router has no good backup yet; run: sysback backup' };
  if (age.kind === 'future') {
    return {
      yes: true,
      reason: `WARNING: the last good backup is dated ${last!.time}, later than this router's clock (${now.toISOString()}); its age is unknown: check the clock (timedatectl) and run: sysback backup`,
    };
  }
  if (age.hours > 2 * intervalHours) {
    return { yes: true, reason: `WARNING: the last good backup is ${Math.floor(age.hours / 24)} days old (backups run every ${intervalHours} h); check: sysback backup` };
  }
  return { yes: false, reason: `the last good backup is ${Math.floor(age.hours)} h old` };
}

// Owns `sysback status`: how fresh the last good backup is, how many generations the private area
// keeps, how many storage servers the private node sees, and the warning the login banner shows
// when the last good backup is older than twice the backup interval (DESIGN §4.4); and when the
// scheduled full verification and lease renewal last ran (their result) and are next due, from the
// state alone (core/state.ts scheduledDue: counted from the last success, so a failure shows as due).
import type { Context } from '../core/context.ts';
import { backupAge, isStale as staleVerdict, readState, scheduledDue, type ScheduledRun } from '../core/state.ts';
import { deviceOf, type DeviceContext } from '../grid/device.ts';
import { readAliases, ALIAS_PRIVATE } from '../grid/device-nodes.ts';
import { readManifest } from './run-backup.ts';

export interface DeviceStatus {
  configured: boolean;
  alias?: string;
  mode?: 'new' | 'recover';
  lastGoodBackup?: {
    time: string;
    sha256: string;
    size: number;
    ageHours: number;
    generation?: string;
    /** survives the loss of this router: the weakest object's shares off the router, as checked when made */
    placement?: { distinctShares: number; otherServers: number; ownShares: number; needed: number };
  };
  generations?: { count: number; newest?: string };
  grid: { reachable: boolean; serversConnected?: number; happy: number };
  intervalHours: number;
  /** the full share verification (`check --verify`, every backup.verifyIntervalDays) */
  verify: ScheduledStatus;
  /** the lease renewal (every backup.leaseIntervalDays; Tahoe's leases last 31 days) */
  leases: ScheduledStatus;
  stale: boolean;
  warning?: string;
}

export interface ScheduledStatus {
  intervalDays: number;
  /** the last attempt, whatever its result */
  last?: { time: string; result: 'ok' | 'failed'; detail?: string };
  lastOk?: string;
  /** when it is next due (ISO time); now when it never succeeded */
  nextDue: string;
  due: boolean;
}

/** Pure: when a scheduled task last ran and is next due. */
export function scheduledStatus(run: ScheduledRun | undefined, intervalDays: number, now: Date): ScheduledStatus {
  const { due, next } = scheduledDue(run, intervalDays, now);
  return {
    intervalDays,
    ...(run ? { last: { time: run.time, result: run.result, ...(run.detail ? { detail: run.detail } : {}) } } : {}),
    ...(run?.lastOk ? { lastOk: run.lastOk } : {}),
    nextDue: next.toISOString().replace(/\.\d+Z$/, 'Z'),
    due,
  };
}

/** One line for `sysback status`: when a scheduled task last ran and is next due. */
export function describeScheduled(what: string, status: ScheduledStatus): string {
  const last = status.last ? `last ${status.last.time} (${status.last.result}${status.last.result === 'failed' && status.lastOk ? `; last ok ${status.lastOk}` : ''})` : 'never run';
  return `${what}: ${last}; next due ${status.due ? 'now (the next backup run)' : status.nextDue} (every ${status.intervalDays} days)`;
}

/** Pure: is a backup of `ageHours` stale for an interval of `intervalHours`? (a negative age, a
    clock that was ahead, is unknown: stale; see core/state.ts isStale) */
export function isStale(ageHours: number | undefined, intervalHours: number): boolean {
  return ageHours === undefined || ageHours < 0 || ageHours > 2 * intervalHours;
}

export async function deviceStatus(ctx: Context | DeviceContext, options: { offline?: boolean } = {}): Promise<DeviceStatus> {
  const device = deviceOf(ctx);
  const config = device.config();
  const state = readState(ctx);
  const intervalHours = config.backup.intervalHours;
  const last = state?.lastGoodBackup;
  const now = ctx.clock.now();
  const age = backupAge(last, now);
  const ageHours = age.kind === 'known' ? age.hours : age.kind === 'future' ? -age.aheadHours : undefined;
  const verdict = staleVerdict(last, intervalHours, now);
  const status: DeviceStatus = {
    configured: state !== undefined,
    ...(state ? { alias: state.alias, mode: state.mode } : {}),
    ...(last && ageHours !== undefined
      ? { lastGoodBackup: { time: last.time, sha256: last.sha256, size: last.size, ageHours: Math.round(ageHours * 10) / 10, ...(last.generation ? { generation: last.generation } : {}), ...(last.placement ? { placement: last.placement } : {}) } }
      : {}),
    grid: { reachable: false, happy: config.grid.shares.happy },
    intervalHours,
    verify: scheduledStatus(state?.lastVerify, config.backup.verifyIntervalDays, now),
    leases: scheduledStatus(state?.lastLeaseRenewal, config.backup.leaseIntervalDays, now),
    stale: state !== undefined && verdict.yes,
  };
  if (status.stale) status.warning = verdict.reason;
  if (options.offline) return status;
  const api = device.client('private');
  if (await api.isUp()) {
    status.grid.reachable = true;
    status.grid.serversConnected = await api.connectedServers().catch(() => 0);
    const cap = readAliases(ctx)[ALIAS_PRIVATE];
    if (cap) {
      const manifest = await readManifest(api, cap, { attempts: 1 }).catch(() => undefined);
      if (manifest) status.generations = { count: manifest.generations.length, ...(manifest.generations[0] ? { newest: manifest.generations[0].name } : {}) };
    }
  }
  return status;
}

// Owns /var/lib/sysback/state.json: whether and how this router was configured, its last good
// backup, and when the scheduled full verification and lease renewal last ran (lastVerify,
// lastLeaseRenewal: time, result, last success). Contract: the file exists only once a first-boot flow succeeded ("new" or "recover"), so its
// presence is what "configured" means (the first-boot unit's Condition checks the same path); it is
// written atomically (temp file + rename) under ctx.root, mode 0600; it holds no cap, no password:
// caps appear only as a digest, enough to tell whether the private directory changed.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-write.ts';
import { loadJsonConfig, validateWith, type Validation } from './config/validate.ts';
import type { Context } from './context.ts';
import { DEVICE } from './device-paths.ts';
import { backupAge } from './backup-age.ts';
import { NotConfiguredError } from './errors.ts';

export const STATE_FORMAT = 'sysback-state/1';

const isoTime = z.string().refine((s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s) && !Number.isNaN(Date.parse(s)), {
  message: 'not a UTC time (YYYY-MM-DDTHH:MM:SSZ)',
});
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'not a sha256 (64 lowercase hex digits)');

export const goodBackupSchema = z
  .object({
    time: isoTime,
    /** sha256 of the archive as verified on the grid */
    sha256,
    size: z.number().int().min(0),
    /** digestCap() of the archive's cap: tells whether the latest changed, without keeping the cap */
    capDigest: sha256,
    /** the generation's name in archives/ */
    generation: z.string().min(1).optional(),
    /** backup/fingerprint.ts of the listed files when this backup was made: an unchanged system is
        recognised from file metadata alone, without rebuilding the archive */
    fingerprint: sha256.optional(),
    /** how this backup survives the loss of the router (backup/placement.ts): the weakest of the
        archive, the manifest and the private directories, as checked when it was made */
    placement: z
      .object({
        /** distinct shares held by servers other than this router's own */
        distinctShares: z.number().int().min(0),
        otherServers: z.number().int().min(0),
        ownShares: z.number().int().min(0),
        needed: z.number().int().min(1),
      })
      .strict()
      .optional(),
  })
  .strict();

/** One scheduled grid task's record (a full verify, a lease renewal): the last attempt and the last success. */
export const scheduledRunSchema = z
  .object({
    /** when it last ran, whatever the result */
    time: isoTime,
    result: z.enum(['ok', 'failed']),
    /** one line: what was checked, or why it failed (no cap) */
    detail: z.string().optional(),
    /** when it last succeeded: what the schedule counts from (a failure leaves it due) */
    lastOk: isoTime.optional(),
  })
  .strict();

export const stateSchema = z
  .object({
    format: z.literal(STATE_FORMAT),
    /** how this router got its configuration */
    mode: z.enum(['new', 'recover']),
    alias: z.string().min(1),
    configuredAt: isoTime,
    /** set by "recover": where the configuration came from */
    recovered: z
      .object({ generation: z.string().min(1), time: isoTime })
      .strict()
      .optional(),
    lastGoodBackup: goodBackupSchema.optional(),
    /** the last full share verification (`check --verify`) of what recovery reads */
    lastVerify: scheduledRunSchema.optional(),
    /** the last lease renewal (deep check with add-lease and repair) */
    lastLeaseRenewal: scheduledRunSchema.optional(),
  })
  .strict();

export type DeviceState = z.infer<typeof stateSchema>;
export type GoodBackup = z.infer<typeof goodBackupSchema>;
export type ScheduledRun = z.infer<typeof scheduledRunSchema>;
export type ScheduledTask = 'lastVerify' | 'lastLeaseRenewal';

export function validateState(input: unknown): Validation<DeviceState> {
  return validateWith(stateSchema, input);
}

/** A one-way digest of a Tahoe cap, safe to store and log. */
export function digestCap(cap: string): string {
  return createHash('sha256').update(`sysback-cap:${cap}`).digest('hex');
}

export function statePath(ctx: Pick<Context, 'path'>): string {
  return ctx.path(DEVICE.state);
}

/** True once a first-boot flow has succeeded on this root. */
export function isConfigured(ctx: Pick<Context, 'path'>): boolean {
  return existsSync(statePath(ctx));
}

/** The state, or undefined when the router is not configured; a damaged file is a ConfigError. */
export function readState(ctx: Pick<Context, 'path'>): DeviceState | undefined {
  const file = statePath(ctx);
  if (!existsSync(file)) return undefined;
  return loadJsonConfig(file, validateState);
}

/** The state of a configured router; NotConfiguredError otherwise. */
export function requireState(ctx: Pick<Context, 'path'>): DeviceState {
  const state = readState(ctx);
  if (!state) throw new NotConfiguredError('this router is not configured yet');
  return state;
}

/** Validates and writes the whole state atomically; a flow calls this last, once every step succeeded. */
export async function writeState(ctx: Pick<Context, 'path'>, state: DeviceState): Promise<void> {
  const checked = validateState(state);
  if (!checked.ok) {
    throw new Error(`writeState: ${checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
  const file = statePath(ctx);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(checked.value, null, 2)}\n`, { mode: 0o600 });
}

/** Records a verified backup in the state of a configured router. */
export async function recordGoodBackup(ctx: Pick<Context, 'path'>, backup: GoodBackup): Promise<DeviceState> {
  const next = { ...requireState(ctx), lastGoodBackup: backup };
  await writeState(ctx, next);
  return next;
}

/**
 * Records one run of a scheduled task: `lastOk` moves only when it succeeded, so a failed verify or
 * renewal stays due and the next backup run tries again.
 */
export async function recordScheduledRun(ctx: Pick<Context, 'path'>, task: ScheduledTask, run: { time: Date; ok: boolean; detail?: string }): Promise<DeviceState> {
  const state = requireState(ctx);
  const next = { ...state, [task]: scheduledRun(state[task], run) };
  await writeState(ctx, next);
  return next;
}

/** The record of one run of a scheduled task after `previous` (pure): `lastOk` moves only on success. */
export function scheduledRun(previous: ScheduledRun | undefined, run: { time: Date; ok: boolean; detail?: string }): ScheduledRun {
  const time = run.time.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    time,
    result: run.ok ? 'ok' : 'failed',
    ...(run.detail ? { detail: run.detail } : {}),
    ...(run.ok ? { lastOk: time } : previous?.lastOk ? { lastOk: previous.lastOk } : {}),
  };
}

/**
 * When a scheduled task is next due: `intervalDays` after its last success; now when it never
 * succeeded, or when the last success is dated after `now` (a wrong clock never postpones it). Pure.
 */
export function scheduledDue(run: ScheduledRun | undefined, intervalDays: number, now: Date): { due: boolean; next: Date } {
  const okAt = run?.lastOk ? Date.parse(run.lastOk) : Number.NaN;
  if (!Number.isFinite(okAt) || okAt > now.getTime() + 60_000) return { due: true, next: now };
  const next = new Date(okAt + intervalDays * 86_400_000);
  return { due: next.getTime() <= now.getTime(), next };
}

/** The state a flow writes when it is done. */
export function configuredState(options: {
  mode: 'new' | 'recover';
  alias: string;
  now: Date;
  recovered?: DeviceState['recovered'];
  lastGoodBackup?: GoodBackup;
  lastVerify?: ScheduledRun;
  lastLeaseRenewal?: ScheduledRun;
}): DeviceState {
  return {
    format: STATE_FORMAT,
    mode: options.mode,
    alias: options.alias,
    configuredAt: options.now.toISOString(),
    ...(options.recovered ? { recovered: options.recovered } : {}),
    ...(options.lastGoodBackup ? { lastGoodBackup: options.lastGoodBackup } : {}),
    ...(options.lastVerify ? { lastVerify: options.lastVerify } : {}),
    ...(options.lastLeaseRenewal ? { lastLeaseRenewal: options.lastLeaseRenewal } : {}),
  };
}

// --- the age of the last good backup, from the caller's clock -------------------------------------
// A router's clock can be wrong both ways. Rules: an age is only ever computed from the clock the
// caller passes (ctx.clock in a flow, so a test can set it); a last good backup recorded *after*
// "now" (the clock was ahead when it was recorded, or is behind now) has an unknown age, and an
// unknown age makes a backup due and the stale warning speak, saying why: a wrong clock must never
// silence either. Nothing here decides what to delete (retention orders by manifest sequence).

export { backupAge, backupDue, isStale, type BackupAge, type Verdict } from './backup-age.ts';

/**
 * The good backup to record when a run found nothing changed: the same backup, re-dated to `now`
 * when its recorded time lies in the future (else an unknown age would make every hourly run due
 * forever); undefined when nothing needs recording.
 */
export function redatedGoodBackup(last: GoodBackup, now: Date): GoodBackup | undefined {
  if (backupAge(last, now).kind !== 'future') return undefined;
  return { ...last, time: now.toISOString().replace(/\.\d+Z$/, 'Z') };
}

// Owns one backup run (the seed's BACKING section; DESIGN §4.4), as cron runs it and as the "new"
// flow runs it once before rebooting. Its steps carry the seed's letters (core/steps.ts events, flow
// "backup"):
//   a) read /etc/sysback/files.txt (and, when the files' metadata matches the last good backup, ask
//      the private area whether that backup is still there: then nothing is uploaded)
//   b) make SysBackup.tar.gz (a file for the mount transport; for the web API a stream compressed
//      while c) uploads it)
//   c) reach the private area: the private node answers and shares.happy servers are connected
//   d) put it there (rsync into the sshfs mount, or a web API PUT), then verify it through the web
//      API, record it in the manifest, re-link the latest, prune old generations; then what is due on
//      its own schedule: the full share verification and the lease renewal.
// Contract: the order of writes is upload → verify (size + sha256 of what the grid returns, one
// read-back hashed as it streams; and placement from a plain check: the archive and the private
// directory recoverable WITHOUT this router's own storage server, backup/placement.ts) → manifest → re-link latest → placement of the manifest
// and the directory again (repaired once, else the previous manifest and latest are linked back and
// the run fails with exit 11) → prune (expired generations, and archives a killed run linked but
// never recorded) → record the good backup → the scheduled upkeep (backup.verifyIntervalDays: `check
// --verify` of the latest archive, the manifest and the private directory; backup.leaseIntervalDays:
// leases renewed; each recorded in the state as lastVerify / lastLeaseRenewal, its schedule counted
// from its last success, so a failure stays due; their failure is a warning: the backup is already
// good and recorded, and nothing recovery depends on was changed by them), so a failed or
// interrupted run never removes or damages the last good backup; an unchanged system (same file
// metadata as the last good backup, the latest link still naming its archive, and a plain check
// finding that archive's shares recoverable without this router) uploads nothing and reads from the
// grid only that, plus what is due; a due verify that finds the
// latest unrecoverable makes the run back up again; two runs never overlap (backup/lock.ts); nothing is uploaded before shares.happy
// servers are connected; caps never reach the log. The grid is reached through the Device
// (grid/device.ts) only.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import type { DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE } from '../core/device-paths.ts';
import { CorruptError, GridUnreachableError, LockedError, VerifyError } from '../core/errors.ts';
import { flowSteps } from '../core/steps.ts';
import { digestCap, readState, recordGoodBackup, recordScheduledRun, redatedGoodBackup, scheduledDue, type GoodBackup, type ScheduledTask } from '../core/state.ts';
import { VERSION } from '../core/version.ts';
import { deviceOf, type Device, type DeviceContext } from '../grid/device.ts';
import { ALIAS_PUBLIC, ownNodeId, privateAreaCap, readAliases } from '../grid/device-nodes.ts';
import { isPassingGridError, readRetrying, TahoeHttpError, type CheckResult, type RetryPolicy, type TahoeClient } from '../grid/tahoe-client.ts';
import type { Transport, TransportKind } from '../grid/transport.ts';
import type { ArchiveSummary } from './archive.ts';
import { loadBackupList } from './files-list.ts';
import { fingerprintEntries } from './fingerprint.ts';
import { acquireLock } from './lock.ts';
import { TooFewOtherServersError, describePlacement, otherServersConnected, recoverableWithout, settlePlacement, type PlacementVerdict } from './placement.ts';
import {
  ARCHIVES_DIR,
  GENERATION_NAME,
  LATEST_NAME,
  MANIFEST_NAME,
  parseManifest,
  uniqueGenerationName,
  withGeneration,
  type Generation,
  type Manifest,
} from './manifest.ts';

export interface BackupOptions {
  /** override the device config's transport */
  transport?: TransportKind;
  /** back up even when the file metadata says nothing changed */
  force?: boolean;
  /** skip lease renewal (the "new" flow renews on the next run) */
  skipLeases?: boolean;
  /** run the full verification and the lease renewal now, due or not */
  upkeep?: boolean;
  /** the "new" flow's backup (step e): the full verification runs now, due or not (before the first
      state exists the result is returned, and the flow records it in the state it writes), and the
      alias is not checked (the flow has just published it, and settles its own record of it in f) */
  firstBoot?: boolean;
  /** the private area's cap; default: the one the private node keeps */
  privateCap?: string;
  /** device paths (globs) left out of this run's archive, on top of files.txt's own exclusions */
  exclude?: readonly string[];
  /** how a read that fails for the moment (the manifest) is retried; readRetrying's defaults */
  retry?: RetryPolicy;
}

export interface BackupResult {
  status: 'uploaded' | 'unchanged';
  /** the generation written, when one was */
  generation?: Generation;
  latest: GoodBackup;
  pruned: string[];
  /** set when lease renewal ran this run */
  leases?: { objects: number; unhealthy: number };
  /** set when the full share verification (`check --verify`) ran this run */
  verify?: { ok: boolean; detail: string };
  /** lease renewal failed (a warning: the backup itself is good and recorded) */
  leaseError?: string;
  /** where the shares of what recovery needs are: each recoverable without this router */
  placement?: Record<string, PlacementVerdict>;
  /** the identity directory's placement (checked during lease renewal; a warning when not ok) */
  identityPlacement?: Record<string, PlacementVerdict>;
  transport: TransportKind;
}

/**
 * The private directory's manifest, or undefined when it has none (HTTP 404: the first backup).
 * A manifest that is there but cannot be read for the moment (HTTP 410/500: its shares on servers
 * not connected yet, or a write in progress) is read again (readRetrying) and then fails the run
 * (GridUnreachableError, nothing written): taking it for "no manifest" would write one without the
 * older generations, and the next run would prune those as orphans.
 */
export async function readManifest(api: TahoeClient, privateCap: string, policy: RetryPolicy = {}): Promise<Manifest | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readRetrying('reading the backup manifest', () => api.getBytes(privateCap, MANIFEST_NAME), policy);
  } catch (error) {
    if (error instanceof TahoeHttpError && error.status === 404) return undefined;
    if (isPassingGridError(error)) {
      throw new GridUnreachableError(
        `the backup manifest is in the private area but cannot be read now (${error.message}); nothing was uploaded`,
        'the grid is missing servers that hold it: check sysback node status; the next run tries again',
      );
    }
    throw error;
  }
  return parseManifest(bytes.toString('utf8'));
}

/** Preflight: the private node answers and enough servers are connected. */
export async function preflight(device: Device, config: DeviceConfig): Promise<TahoeClient> {
  const api = device.client('private');
  if (!(await api.isUp())) {
    throw new GridUnreachableError(
      `the private Tahoe node does not answer on 127.0.0.1:${config.tahoe.webPorts.private}`,
      'start it: systemctl start sysback-tahoe@private (or sysback node start where no systemd runs)',
    );
  }
  await device.nodes.waitForHappy(api);
  return api;
}

type BackupList = Awaited<ReturnType<typeof loadBackupList>>;
/** b)'s product: a file made (mount) or a stream to make while uploading (web API). */
type ArchiveSource = { kind: 'file'; file: string; summary: ArchiveSummary } | { kind: 'stream' };

export async function runBackup(ctx: Context | DeviceContext, options: BackupOptions = {}): Promise<BackupResult> {
  const device = deviceOf(ctx);
  const config = device.config();
  const kind = options.transport ?? config.transport;
  const steps = flowSteps(ctx, 'backup', { labelErrors: false, titlePrefix: 'backup ' });
  const lock = acquireLock(ctx.path(DEVICE.lock), { onStale: (message) => ctx.log.warn(message), now: () => ctx.clock.now() });
  let reached: Promise<TahoeClient> | undefined;
  const reach = () => (reached ??= preflight(device, config));
  const spool = path.join(ctx.path(DEVICE.stateDir), 'SysBackup.tar.gz');
  try {
    const privateCap = options.privateCap ?? privateAreaCap(ctx);
    const state = readState(ctx);
    const last = state?.lastGoodBackup;

    let earlyVerify: BackupResult['verify'];
    const { list, fingerprint, unchanged } = await steps.step('a', 'read /etc/sysback/files.txt', async () => {
      // decided from metadata and the state; the grid is asked only whether the latest is still
      // linked and where its shares are, and that is asked while the files are listed (the answer is
      // used only when nothing changed; the preflight is needed either way)
      const asked = !options.force && last && state ? latestAndPlacement(reach, privateCap, last) : undefined;
      asked?.catch(() => undefined); // awaited below when nothing changed; else not needed
      const list = await loadBackupList(ctx, options.exclude ? { exclude: options.exclude } : {});
      const fingerprint = await fingerprintEntries(ctx.root, list.entries);
      const same = !options.force && last?.fingerprint === fingerprint;
      const latest = same && asked ? await asked : undefined;
      const latestCap = latest?.cap;
      if (!latestCap || !state || !latest.check) return { list, fingerprint, unchanged: false };
      // still there = its shares are where they survive this router's loss: a plain check (no share
      // fetched) of the latest archive; else it is backed up again, which places its shares anew
      const still = recoverableWithout(latest.check, ownNodeId(ctx, 'private'));
      if (!still.ok) {
        ctx.log.warn(`${describePlacement('the latest archive', still)}: backing up again`);
        return { list, fingerprint, unchanged: false };
      }
      // a due full verification is what may still find the latest unreadable: then back up again
      if (options.upkeep || scheduledDue(state.lastVerify, config.backup.verifyIntervalDays, ctx.clock.now()).due) {
        earlyVerify = await steps.part('a', 'verifying every share of the latest backup', () => fullVerify(ctx, device, privateCap, latestCap));
        if (!earlyVerify.ok) {
          ctx.log.warn(`the latest backup failed its verification (${earlyVerify.detail}): backing up again`);
          return { list, fingerprint, unchanged: false };
        }
      }
      return { list, fingerprint, unchanged: true };
    });

    if (unchanged && last) {
      ctx.log.info('nothing changed since the last good backup: nothing uploaded');
      steps.skip('b', 'make SysBackup.tar.gz', 'nothing changed');
      await steps.step('c', 'reach the private area', () => reach());
      const redated = redatedGoodBackup(last, ctx.clock.now());
      if (redated) await recordGoodBackup(ctx, redated);
      const repair = (earlyVerify?.ok && earlyVerify.detail.includes('not healthy')) === true;
      const renewal = options.skipLeases || !(repair || options.upkeep || leasesDue(ctx, config))
        ? undefined
        : await steps.step('d', 'renew leases', () => scheduledLeases(ctx, device, privateCap, (name, fn) => steps.part('d', name, fn)));
      if (!options.firstBoot) await aliasStillOurs(ctx, device, config);
      return { status: 'unchanged', latest: redated ?? last, pruned: [], transport: kind, ...(earlyVerify ? { verify: earlyVerify } : {}), ...renewal };
    }

    const now = ctx.clock.now();
    const warn = (message: string) => ctx.log.warn(message);

    const source: ArchiveSource = await steps.step('b', `make SysBackup.tar.gz (${list.entries.length} entries)`, async () => {
      // the web API takes the archive as it is made: compression overlaps the upload in d)
      if (kind === 'webapi') return { kind: 'stream' };
      // the seed's way: SysBackup.tar.gz is made as a file, then rsynced into the mounted area
      const { writeArchive } = await import('./archive.ts');
      const summary = await writeArchive(ctx.root, list.entries, spool, { explicit: list.explicit, onWarning: warn });
      return { kind: 'file', file: spool, summary };
    });

    const own = ownNodeId(ctx, 'private');
    const api = await steps.step('c', `reach the private area (${kind})`, async () => {
      const reachedApi = await reach();
      // nothing is written unless enough servers OTHER than this router are there to hold it
      const others = otherServersConnected((await reachedApi.welcome()).servers, own);
      if (others < config.grid.shares.needed) throw new TooFewOtherServersError(others, config.grid.shares.needed);
      // the welcome page calls a server connected for a while after it stopped; a plain check of the
      // private directory asks the servers themselves (one round trip, no share fetched)
      const responding = (await reachedApi.check(privateCap)).serversResponding.filter((server) => server !== own).length;
      if (responding < config.grid.shares.needed) throw new TooFewOtherServersError(responding, config.grid.shares.needed);
      return reachedApi;
    });

    // the manifest is read BEFORE naming the generation: a clock that stepped back must never give
    // a new archive the name of one the manifest (or archives/) already holds
    let previous: Manifest | undefined;
    try {
      previous = await readManifest(api, privateCap, { onRetry: (message) => ctx.log.info(message), ...options.retry });
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error;
      ctx.log.warn(`${error.message}; writing a new one`);
    }
    const existingArchives = (await api.list(privateCap, ARCHIVES_DIR).catch(() => [])).map((e) => e.name);
    const name = uniqueGenerationName(now, [...(previous?.generations ?? []).map((g) => g.name), ...existingArchives]);
    const target = `${ARCHIVES_DIR}/${name}`;

    return await steps.step('d', `put ${target} in the private area and verify it`, async () => {
      const transport = device.transport(kind, 'private', privateCap);
      let cap: string;
      let summary: ArchiveSummary;
      try {
        ({ cap, summary } = await steps.part('d', `uploading ${target} (${kind})`, () => upload(ctx, list, source, transport, privateCap, target)));
      } finally {
        await transport.close();
        rmSync(spool, { force: true });
      }

      await steps.part('d', 'verifying what the grid returns', async () => {
        // one end-to-end read-back, hashed as it streams: what the grid returns is what was written
        // (the shares it decodes from are checked against the cap's hashes on the way); the other
        // shares are fetched by the scheduled full verification, not every run
        const got = await api.digest(cap);
        if (got.sha256 !== summary.sha256 || got.size !== summary.size) {
          await api.unlink(privateCap, target).catch(() => {});
          throw new VerifyError(`the grid returned ${got.size} bytes (sha256 ${got.sha256.slice(0, 12)}…) for an archive of ${summary.size} bytes (sha256 ${summary.sha256.slice(0, 12)}…)`);
        }
        // share presence and placement: a plain check of each object (settlePlacement), no share fetched
        // placement: the archive, and the private directory the manifest is about to be written into,
        // must be readable once this router is lost; else nothing recovery reads is touched
        // (repaired once when not: a grid that healed after a degraded run spreads them again)
        const archivesDir = (await api.info(privateCap, ARCHIVES_DIR))?.readCap;
        const objects = { 'the new archive': cap, 'the private directory': privateCap, ...(archivesDir ? { 'the archives directory': archivesDir } : {}) };
        await settlePlacement(ctx.log, api, own, objects, privateCap, () => api.unlink(privateCap, target));
      });
      const same = previous?.generations[0];
      const latestInfo = same && same.sha256 === summary.sha256 ? await api.info(privateCap, LATEST_NAME) : undefined;
      if (same && latestInfo) {
        // metadata changed but the bytes did not (a touched file with the same content and mtime)
        await api.unlink(privateCap, target).catch(() => {});
        ctx.log.info('the archive is identical to the latest one: nothing new kept');
        const latest = goodBackup(now, summary, latestInfo.readCap, same.name, fingerprint);
        if (state) await recordGoodBackup(ctx, latest);
        return { status: 'unchanged', latest, pruned: [], transport: kind, ...(earlyVerify ? { verify: earlyVerify } : {}) };
      }

      const generation: Generation = {
        name,
        created: now.toISOString(),
        sha256: summary.sha256,
        size: summary.size,
        entries: summary.entryCount,
        host: os.hostname(),
        sysbackVersion: VERSION,
        patterns: list.patterns.map((p) => p.pattern),
      };
      const { manifest, pruned: expired } = withGeneration(previous, generation, config.backup.retention, now);
      // a run that lost its lock (taken over as stale while it was slow) writes nothing recovery reads
      if (!lock.held()) throw new LockedError('the backup lock was taken over by another run before the manifest was written; this run changed nothing');
      const before = { manifest: await api.info(privateCap, MANIFEST_NAME), latest: await api.info(privateCap, LATEST_NAME) };
      // the manifest first: recovery restores its newest generation, so once it is written the new
      // archive is the one restored even if we die before re-linking SysBackup.tar.gz (which then still
      // names the previous generation, still listed); the other order left a latest no manifest knew
      const archivesCap = (await api.info(privateCap, ARCHIVES_DIR))?.readCap ?? privateCap;
      const manifestCap = await api.put(JSON.stringify(manifest, null, 2) + '\n', { dirCap: privateCap, name: MANIFEST_NAME });
      await steps.part('d', `making ${name} the latest`, () => api.link(privateCap, LATEST_NAME, cap));
      const placement = await steps.part('d', 'checking that it survives the loss of this router', () =>
        settlePlacement(ctx.log, api, own, { 'the new archive': cap, 'the manifest': manifestCap, 'the private directory': privateCap, 'the archives directory': archivesCap }, privateCap, async () => {
          // undo: the previous manifest and latest linked back (or removed when there were none)
          await relinkOrRemove(api, privateCap, MANIFEST_NAME, before.manifest?.readCap);
          await relinkOrRemove(api, privateCap, LATEST_NAME, before.latest?.readCap);
        }));
      // archives an interrupted run linked but never recorded are pruned too (only when the previous
      // manifest was read: without it, archives/ is what recovery falls back to)
      const orphans = previous ? (await orphanArchives(api, privateCap, previous, manifest, config.backup.retention)).filter((name) => !expired.includes(name)) : [];
      if (orphans.length) ctx.log.info(`removing ${orphans.length} archive(s) an interrupted run left unrecorded`);
      const pruned = [...expired, ...orphans];
      for (const old of pruned) {
        await api.unlink(privateCap, `${ARCHIVES_DIR}/${old}`).catch((error: unknown) => {
          if (!(error instanceof TahoeHttpError && error.status === 404)) throw error;
        });
      }
      if (pruned.length) ctx.log.info(`pruned ${pruned.length} old generation(s), keeping ${manifest.generations.length}`);
      const latest: GoodBackup = { ...goodBackup(now, summary, cap, name, fingerprint), ...weakestPlacement(placement) };
      if (state) await recordGoodBackup(ctx, latest);
      ctx.log.info(`backup ${name} verified: ${summary.size} bytes, ${summary.entryCount} entries, recoverable without this router`);
      // after the backup is good and recorded: a failure here changes nothing recovery depends on
      const verifyDue = options.upkeep || options.firstBoot || (state !== undefined && scheduledDue(readState(ctx)?.lastVerify, config.backup.verifyIntervalDays, ctx.clock.now()).due);
      const verify = verifyDue ? await steps.part('d', 'verifying every share of the new backup', () => fullVerify(ctx, device, privateCap, cap)) : undefined;
      const repair = (verify?.ok && verify.detail.includes('not healthy')) === true;
      const renewal = !state || options.skipLeases || !(repair || options.upkeep || leasesDue(ctx, config)) ? undefined : await scheduledLeases(ctx, device, privateCap, (part, fn) => steps.part('d', part, fn));
      if (!options.firstBoot) await aliasStillOurs(ctx, device, config);
      const result: BackupResult = { status: 'uploaded', generation, latest, pruned, transport: kind, placement, ...(verify ? { verify } : {}), ...renewal };
      return result;
    });
  } finally {
    rmSync(spool, { force: true });
    lock.release();
  }
}

/** The least safe of the objects checked (fewest spare shares off this router), for the state and `sysback status`. */
function weakestPlacement(placement: Record<string, PlacementVerdict> | undefined): Pick<GoodBackup, 'placement'> {
  const verdicts = Object.values(placement ?? {});
  if (verdicts.length === 0) return {};
  const weakest = verdicts.reduce((a, b) => (b.distinctShares - b.needed < a.distinctShares - a.needed ? b : a));
  return { placement: { distinctShares: weakest.distinctShares, otherServers: weakest.otherServers, ownShares: weakest.ownShares, needed: weakest.needed } };
}

function goodBackup(now: Date, summary: { sha256: string; size: number }, cap: string, generation: string, fingerprint: string): GoodBackup {
  return { time: now.toISOString().replace(/\.\d+Z$/, 'Z'), sha256: summary.sha256, size: summary.size, capDigest: digestCap(cap), generation, fingerprint };
}

/** The latest archive's cap when it is still the one the state recorded, and a plain check of it. */
async function latestAndPlacement(reach: () => Promise<TahoeClient>, privateCap: string, last: GoodBackup): Promise<{ cap?: string; check?: CheckResult }> {
  const api = await reach();
  const cap = await latestStillThere(api, privateCap, last);
  return cap ? { cap, check: await api.check(cap) } : {};
}

/** The latest archive's cap when the private directory still links the one the state recorded. */
async function latestStillThere(api: TahoeClient, privateCap: string, last: GoodBackup | undefined): Promise<string | undefined> {
  const info = await api.info(privateCap, LATEST_NAME);
  if (!info || !last) return undefined;
  return digestCap(info.readCap) === last.capDigest ? info.readCap : undefined;
}

function leasesDue(ctx: Context, config: DeviceConfig): boolean {
  return scheduledDue(readState(ctx)?.lastLeaseRenewal, config.backup.leaseIntervalDays, ctx.clock.now()).due;
}

async function recordRun(ctx: Context, task: ScheduledTask, ok: boolean, detail: string): Promise<void> {
  try {
    await recordScheduledRun(ctx, task, { time: ctx.clock.now(), ok, detail });
  } catch (error) {
    ctx.log.warn(`could not record the ${task === 'lastVerify' ? 'verification' : 'lease renewal'} in the state: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The scheduled full verification: `check --verify` (every share fetched and checked against the
 * cap's hashes) of the latest archive, the manifest and the private directory. Recorded in the state
 * (lastVerify); ok when each is recoverable (an object with corrupt or missing shares that is still
 * recoverable is ok, "not healthy" in the detail, and the caller repairs it by renewing leases now).
 * Never throws: a grid error is a failed verification, which stays due.
 */
async function fullVerify(ctx: Context, device: Device, privateCap: string, archiveCap: string): Promise<{ ok: boolean; detail: string }> {
  let outcome: { ok: boolean; detail: string };
  try {
    const api = device.client('private');
    const manifest = await api.info(privateCap, MANIFEST_NAME);
    const objects: Record<string, string> = { 'the latest archive': archiveCap, ...(manifest ? { 'the manifest': manifest.readCap } : {}), 'the private directory': privateCap };
    const problems: string[] = [];
    const unhealthy: string[] = [];
    for (const [what, cap] of Object.entries(objects)) {
      const check = await api.check(cap, { verify: true });
      if (!check.recoverable) problems.push(`${what}: ${check.summary}`);
      else if (!check.healthy) unhealthy.push(`${what}: ${check.summary}`);
    }
    const checked = `${Object.keys(objects).length} object(s) verified`;
    outcome = problems.length
      ? { ok: false, detail: `not recoverable: ${problems.join('; ')}` }
      : { ok: true, detail: unhealthy.length ? `${checked}; not healthy: ${unhealthy.join('; ')}` : checked };
  } catch (error) {
    outcome = { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
  if (!outcome.ok) ctx.log.warn(`the full verification failed (it stays due: the next run tries again): ${outcome.detail}`);
  else if (outcome.detail.includes('not healthy')) ctx.log.warn(`the full verification found shares lost or damaged, repairing: ${outcome.detail}`);
  // before the first state exists (the "new" flow's first backup) the flow records it
  if (readState(ctx)) await recordRun(ctx, 'lastVerify', outcome.ok, outcome.detail);
  return outcome;
}

/** renewLeases, recorded in the state (lastLeaseRenewal; a failure stays due). */
async function scheduledLeases(ctx: Context, device: Device, privateCap: string, part: Part): Promise<Pick<BackupResult, 'leases' | 'leaseError' | 'identityPlacement'>> {
  const renewal = await renewLeases(ctx, device, privateCap, part);
  if (renewal.leaseError) await recordRun(ctx, 'lastLeaseRenewal', false, renewal.leaseError);
  else await recordRun(ctx, 'lastLeaseRenewal', true, `${renewal.leases?.objects ?? 0} object(s) renewed, ${renewal.leases?.unhealthy ?? 0} repaired`);
  return renewal;
}

/**
 * Generation files in archives/ that `manifest` does not list, left by a run killed after it linked
 * them: an archive it made and never recorded, or generations its manifest expired and it never
 * unlinked. Kept: older unlisted files while the previous manifest held fewer than `retention`
 * generations (then retention expired none of them): after a damaged manifest was replaced by one
 * holding only the new generation, the older generations are still in archives/, where recovery finds
 * them; they go once the manifest holds `retention` newer ones, as retention would have had it. Names
 * are the router's clock, so "older" errs on keeping.
 */
async function orphanArchives(api: TahoeClient, privateCap: string, previous: Manifest, manifest: Manifest, retention: number): Promise<string[]> {
  const kept = new Set(manifest.generations.map((g) => g.name));
  const full = previous.generations.length >= retention;
  const since = previous.generations[0] ? generationStamp(previous.generations[0].name) : '';
  const listed = await api.list(privateCap, ARCHIVES_DIR).catch(() => []);
  return listed
    .filter((e) => e.type === 'filenode' && GENERATION_NAME.test(e.name) && !kept.has(e.name) && (full || generationStamp(e.name) >= since))
    .map((e) => e.name);
}

/** `20261127T220501Z` of `SysBackup-20261127T220501Z[-n].tar.gz` (fixed width: sorts as time). */
function generationStamp(name: string): string {
  return name.slice('SysBackup-'.length, 'SysBackup-'.length + 16);
}

const WRITE_CAP = /^URI:DIR2(-MDMF)?:/;

type Part = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

/**
 * The read cap of this router's identity directory: the alias file's entry when it still holds one
 * (a write cap there is reduced to its read cap by Tahoe itself), else the one on the recovery card
 * (the router keeps no write cap to its identity directory; renewing leases needs none).
 */
async function identityDirCap(ctx: Context): Promise<string | undefined> {
  const alias = readAliases(ctx)[ALIAS_PUBLIC];
  if (alias) return alias;
  return cardCap(ctx);
}

/** The read cap the recovery card prints (the public area's module is loaded only when it is read). */
async function cardCap(ctx: Context): Promise<string | undefined> {
  const card = ctx.path(DEVICE.recoveryCard);
  if (!existsSync(card)) return undefined;
  const { cardReadCap } = await import('../grid/public-area.ts');
  return cardReadCap(readFileSync(card, 'utf8'));
}

/**
 * Leases renewed (and lost shares repaired) on the private area and on this router's identity
 * directory, whose placement is checked too (a warning: it cannot be repaired without its write
 * cap, which the router does not keep). Never throws: the backup is already good when this runs.
 */
async function renewLeases(ctx: Context, device: Device, privateCap: string, part: Part): Promise<Pick<BackupResult, 'leases' | 'leaseError' | 'identityPlacement'>> {
  try {
    return await part('renewing leases on the private area and the identity', async () => {
      const api = device.client('private');
      const leases = await api.renewLeases(privateCap);
      const identityDir = await identityDirCap(ctx);
      let identityPlacement: Record<string, PlacementVerdict> | undefined;
      if (identityDir) {
        const mine = await api.renewLeases(identityDir);
        leases.objects += mine.objects;
        leases.unhealthy += mine.unhealthy;
        identityPlacement = await identityVerdicts(api, ctx, identityDir);
        for (const [what, verdict] of Object.entries(identityPlacement)) {
          if (!verdict.ok) ctx.log.warn(`${describePlacement(what, verdict)}: it would not survive the loss of this router (the next backup run tries again)`);
        }
      }
      if (leases.unhealthy) ctx.log.info(`repaired ${leases.unhealthy} object(s) that had lost shares`);
      return { leases, ...(identityPlacement ? { identityPlacement } : {}) };
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    ctx.log.warn(`lease renewal failed (the backup itself is good and recorded; the next run renews): ${message}`);
    return { leaseError: message };
  }
}

async function identityVerdicts(api: TahoeClient, ctx: Context, identityDir: string): Promise<Record<string, PlacementVerdict>> {
  const own = ownNodeId(ctx, 'private');
  const { IDENTITY_FILE } = await import('../grid/public-area.ts');
  const verdicts: Record<string, PlacementVerdict> = { 'the identity directory': recoverableWithout(await api.check(identityDir), own) };
  const file = await api.info(identityDir, IDENTITY_FILE);
  if (file) verdicts['the identity file'] = recoverableWithout(await api.check(file.readCap), own);
  return verdicts;
}

async function relinkOrRemove(api: TahoeClient, dirCap: string, name: string, cap: string | undefined): Promise<void> {
  if (cap) await api.link(dirCap, name, cap);
  else await api.unlink(dirCap, name).catch(() => undefined);
}

/**
 * Non-fatal: the alias in the public directory still names this router's identity directory (the
 * one its recovery card prints). One read when it does; the public area's module (and the OpenPGP
 * code it brings) is loaded only to re-link a missing alias or report a changed one.
 */
async function aliasStillOurs(ctx: Context, device: Device, config: DeviceConfig): Promise<void> {
  try {
    const alias = readState(ctx)?.alias;
    // the alias file's entry is the card's read cap once a flow succeeded (an older sysback kept a
    // write cap there: then the card is read)
    const fromAliases = readAliases(ctx)[ALIAS_PUBLIC];
    const ownReadCap = fromAliases && !WRITE_CAP.test(fromAliases) ? fromAliases : await cardCap(ctx);
    if (!alias || !ownReadCap) return;
    const api = device.client('private');
    if ((await api.info(config.grid.publicDirectory, alias))?.readCap === ownReadCap) return;
    const { aliasDirectoryOf, ensureAliasLink } = await import('../grid/public-area.ts');
    const report = await ensureAliasLink(aliasDirectoryOf(api, config.grid.publicDirectory), alias, ownReadCap);
    if (report.message) ctx.log.warn(report.message);
  } catch (error) {
    ctx.log.warn(`could not check the alias link in the public directory: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function upload(ctx: Context, list: BackupList, source: ArchiveSource, transport: Transport, privateCap: string, target: string) {
  if (source.kind === 'stream') {
    const { createArchiveStream } = await import('./archive.ts');
    const stream = createArchiveStream(ctx.root, list.entries, { explicit: list.explicit, onWarning: (message) => ctx.log.warn(message) });
    const cap = await transport.upload(stream, privateCap, target);
    return { cap, summary: await stream.summary };
  }
  const cap = await transport.upload({ file: source.file }, privateCap, target);
  return { cap, summary: source.summary };
}

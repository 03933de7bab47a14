// Owns one backup run (the seed's BACKING section; DESIGN §4.4), as cron runs it and as the "new"
// flow runs it once before rebooting:
//   a) read /etc/sysback/files.txt   b) make SysBackup.tar.gz   c) put it in the private area
//   (mount + rsync, or the web API)   d) verify it through the web API, re-link the latest, record it
//   in the manifest, prune old generations, renew leases.
// Contract: the order of writes is upload → verify (size + sha256 of what the grid returns, and
// check --verify) → manifest → re-link latest → prune (expired generations, and archives a killed
// run linked but never recorded), so a failed or interrupted run never removes or
// damages the last good backup; an unchanged system (same file metadata as the last good backup)
// uploads nothing; two runs never overlap (backup/lock.ts); nothing is uploaded before shares.happy
// servers are connected; caps never reach the log.
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { readDeviceConfig, type DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE } from '../core/device-paths.ts';
import { CorruptError, GridUnreachableError, VerifyError } from '../core/errors.ts';
import { digestCap, readState, recordGoodBackup, type GoodBackup } from '../core/state.ts';
import { VERSION } from '../core/version.ts';
import { ALIAS_PUBLIC, nodeApi, privateAreaCap, readAliases, waitForHappy } from '../grid/device-nodes.ts';
import type { TransportKind } from '../grid/transport.ts';
import { TahoeHttpError, type TahoeWebApi } from '../grid/webapi.ts';
import { createArchiveStream, writeArchive } from './archive.ts';
import { loadBackupList } from './files-list.ts';
import { fingerprintEntries } from './fingerprint.ts';
import { acquireLock } from './lock.ts';
import {
  ARCHIVES_DIR,
  generationName,
  GENERATION_NAME,
  LATEST_NAME,
  MANIFEST_NAME,
  parseManifest,
  withGeneration,
  type Generation,
  type Manifest,
} from './manifest.ts';
import { openTransport } from './open-transport.ts';

export interface BackupOptions {
  /** override the device config's transport */
  transport?: TransportKind;
  /** back up even when the file metadata says nothing changed */
  force?: boolean;
  /** skip lease renewal (the "new" flow renews on the next run) */
  skipLeases?: boolean;
  /** the private area's cap; default: the one the private node keeps */
  privateCap?: string;
}

export interface BackupResult {
  status: 'uploaded' | 'unchanged';
  /** the generation written, when one was */
  generation?: Generation;
  latest: GoodBackup;
  pruned: string[];
  leases?: { objects: number; unhealthy: number };
  transport: TransportKind;
}

export async function readManifest(api: TahoeWebApi, privateCap: string): Promise<Manifest | undefined> {
  let bytes: Buffer;
  try {
    bytes = await api.getBytes(privateCap, MANIFEST_NAME);
  } catch (error) {
    if (error instanceof TahoeHttpError && (error.status === 404 || error.status === 410)) return undefined;
    throw error;
  }
  return parseManifest(bytes.toString('utf8'));
}

/** Preflight: the private node answers and enough servers are connected. */
export async function preflight(ctx: Context, config: DeviceConfig): Promise<TahoeWebApi> {
  const api = nodeApi(config, 'private');
  if (!(await api.isUp())) {
    throw new GridUnreachableError(
      `the private Tahoe node does not answer on 127.0.0.1:${config.tahoe.webPorts.private}`,
      'start it: systemctl start sysback-tahoe@private (or sysback node start where no systemd runs)',
    );
  }
  await waitForHappy(ctx, config, api);
  return api;
}

export async function runBackup(ctx: Context, options: BackupOptions = {}): Promise<BackupResult> {
  const config = readDeviceConfig(ctx);
  const kind = options.transport ?? config.transport;
  const lock = acquireLock(ctx.path(DEVICE.lock), (message) => ctx.log.warn(message));
  try {
    const privateCap = options.privateCap ?? privateAreaCap(ctx);
    const api = await ctx.log.step('checking the private node and the grid', () => preflight(ctx, config));
    const list = await loadBackupList(ctx);
    const fingerprint = await fingerprintEntries(ctx.root, list.entries);
    const state = readState(ctx);
    const last = state?.lastGoodBackup;

    if (!options.force && last?.fingerprint === fingerprint && (await latestStillThere(api, privateCap, last))) {
      ctx.log.info('nothing changed since the last good backup: nothing uploaded');
      const leases = options.skipLeases ? undefined : await renewLeases(ctx, api, privateCap);
      return { status: 'unchanged', latest: last, pruned: [], transport: kind, ...(leases ? { leases } : {}) };
    }

    const now = ctx.clock.now();
    const name = generationName(now);
    const target = `${ARCHIVES_DIR}/${name}`;
    const transport = openTransport(ctx, config, kind, 'private', privateCap);
    let cap: string;
    let summary;
    try {
      ({ cap, summary } = await ctx.log.step(`uploading ${target} (${list.entries.length} entries, ${kind})`, () =>
        upload(ctx, kind, list, transport, privateCap, target),
      ));
    } finally {
      await transport.close();
    }

    await ctx.log.step('verifying what the grid returns', async () => {
      const got = await api.digest(cap);
      if (got.sha256 !== summary.sha256 || got.size !== summary.size) {
        await api.unlink(privateCap, target).catch(() => {});
        throw new VerifyError(`the grid returned ${got.size} bytes (sha256 ${got.sha256.slice(0, 12)}…) for an archive of ${summary.size} bytes (sha256 ${summary.sha256.slice(0, 12)}…)`);
      }
      const check = await api.check(cap, { verify: true });
      if (!check.recoverable) {
        await api.unlink(privateCap, target).catch(() => {});
        throw new VerifyError(`the new archive is not recoverable from the grid: ${check.summary}`);
      }
      if (!check.healthy) ctx.log.warn(`the new archive is recoverable but not fully healthy: ${check.summary}`);
    });

    let previous: Manifest | undefined;
    try {
      previous = await readManifest(api, privateCap);
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error;
      ctx.log.warn(`${error.message}; writing a new one`);
    }
    const same = previous?.generations[0];
    if (same && same.sha256 === summary.sha256 && (await latestStillThere(api, privateCap, undefined))) {
      // metadata changed but the bytes did not (a touched file with the same content and mtime)
      await api.unlink(privateCap, target).catch(() => {});
      ctx.log.info('the archive is identical to the latest one: nothing new kept');
      const latest = goodBackup(now, summary, (await api.info(privateCap, LATEST_NAME))[1].ro_uri ?? cap, same.name, fingerprint);
      if (state) await recordGoodBackup(ctx, latest);
      return { status: 'unchanged', latest, pruned: [], transport: kind };
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
    // the manifest first: recovery restores its newest generation, so once it is written the new
    // archive is the one restored even if we die before re-linking SysBackup.tar.gz (which then still
    // names the previous generation, still listed); the other order left a latest no manifest knew
    await api.put(JSON.stringify(manifest, null, 2) + '\n', { dirCap: privateCap, name: MANIFEST_NAME });
    await ctx.log.step(`making ${name} the latest`, () => api.link(privateCap, LATEST_NAME, cap));
    // archives an interrupted run linked but never recorded are pruned too (only when the previous
    // manifest was read: without it, archives/ is what recovery falls back to)
    const orphans = previous ? await orphanArchives(api, privateCap, manifest) : [];
    if (orphans.length) ctx.log.info(`removing ${orphans.length} archive(s) an interrupted run left unrecorded`);
    const pruned = [...expired, ...orphans];
    for (const old of pruned) {
      await api.unlink(privateCap, `${ARCHIVES_DIR}/${old}`).catch((error: unknown) => {
        if (!(error instanceof TahoeHttpError && error.status === 404)) throw error;
      });
    }
    if (pruned.length) ctx.log.info(`pruned ${pruned.length} old generation(s), keeping ${manifest.generations.length}`);
    const leases = options.skipLeases ? undefined : await renewLeases(ctx, api, privateCap);
    const latest = goodBackup(now, summary, cap, name, fingerprint);
    if (state) await recordGoodBackup(ctx, latest);
    ctx.log.info(`backup ${name} verified: ${summary.size} bytes, ${summary.entryCount} entries`);
    return { status: 'uploaded', generation, latest, pruned, transport: kind, ...(leases ? { leases } : {}) };
  } finally {
    lock.release();
  }
}

function goodBackup(now: Date, summary: { sha256: string; size: number }, cap: string, generation: string, fingerprint: string): GoodBackup {
  return { time: now.toISOString().replace(/\.\d+Z$/, 'Z'), sha256: summary.sha256, size: summary.size, capDigest: digestCap(cap), generation, fingerprint };
}

async function latestStillThere(api: TahoeWebApi, privateCap: string, last: GoodBackup | undefined): Promise<boolean> {
  const info = await api.info(privateCap, LATEST_NAME);
  if (!info) return false;
  if (!last) return true;
  const cap: string | undefined = info[1]?.ro_uri ?? info[1]?.rw_uri;
  return cap !== undefined && digestCap(cap) === last.capDigest;
}

/** Generation files in archives/ that `manifest` does not list: left by a run killed before it recorded them. */
async function orphanArchives(api: TahoeWebApi, privateCap: string, manifest: Manifest): Promise<string[]> {
  const kept = new Set(manifest.generations.map((g) => g.name));
  const listed = await api.list(privateCap, ARCHIVES_DIR).catch(() => []);
  return listed.filter((e) => e.type === 'filenode' && GENERATION_NAME.test(e.name) && !kept.has(e.name)).map((e) => e.name);
}

/** Leases renewed (and lost shares repaired) on the private area and on this router's identity directory. */
async function renewLeases(ctx: Context, api: TahoeWebApi, privateCap: string) {
  return ctx.log.step('renewing leases on the private area and the identity', async () => {
    const result = await api.renewLeases(privateCap);
    const identityDir = readAliases(ctx)[ALIAS_PUBLIC];
    if (identityDir) {
      const own = await api.renewLeases(identityDir);
      result.objects += own.objects;
      result.unhealthy += own.unhealthy;
    }
    if (result.unhealthy) ctx.log.info(`repaired ${result.unhealthy} object(s) that had lost shares`);
    return result;
  });
}

async function upload(
  ctx: Context,
  kind: TransportKind,
  list: Awaited<ReturnType<typeof loadBackupList>>,
  transport: ReturnType<typeof openTransport>,
  privateCap: string,
  target: string,
) {
  const warn = (message: string) => ctx.log.warn(message);
  if (kind === 'webapi') {
    // compression overlaps the upload: the archive streams straight into the PUT
    const stream = createArchiveStream(ctx.root, list.entries, { explicit: list.explicit, onWarning: warn });
    const cap = await transport.upload(stream, privateCap, target);
    return { cap, summary: await stream.summary };
  }
  // the seed's way: SysBackup.tar.gz is made as a file, then rsynced into the mounted area
  const file = path.join(ctx.path(DEVICE.stateDir), 'SysBackup.tar.gz');
  try {
    const summary = await writeArchive(ctx.root, list.entries, file, { explicit: list.explicit, onWarning: warn });
    const cap = await transport.upload({ file }, privateCap, target);
    return { cap, summary };
  } finally {
    rmSync(file, { force: true });
  }
}

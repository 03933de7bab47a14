// The "recover" flow's step f) (the seed: "Extract from mountpoint/SysBackup.tar.gz all required
// configuration files with full path to /"): the lost router's manifest read (a damaged one falls
// back to the archives listing and this image's files.txt), the generation chosen (the answers'
// `generation` / `notAfter`, or the person's choice from a list showing each generation's time and
// host, the newest by default; order from the manifest's sequence, never from names or the clock),
// then in one pass (recovery/staged-restore.ts) the archive downloaded (streamed from the web API; the
// mount transport copies it out with rsync first), its sha256 computed and every entry checked and
// written into the staging area, never the root; only when the sha256 matches the manifest's is the
// plan made. When the newest cannot be downloaded or verified, the next older one is tried, with
// a line saying so each time; the step fails only when none can be read (an explicitly chosen
// generation is never swapped for another). Before anything reaches the root, the plan is reviewed against this
// image's own files.txt: paths the backup adds beyond it and setuid/setgid files are shown and need
// a typed yes (headless: `restoreBeyondList: true`); without it only the image's list is restored.
// Then the staged entries are moved into place (recovery/safe-extract.ts's move phase). Staging and
// any download are removed whatever happens. `--dry-run` lists what would change and stops there.
// After the restore the router's own config is merged back (this image keeps its tahoe ports).
import { createReadStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { validateDeviceConfig, writeDeviceConfig, type DeviceConfig } from '../../core/config/device-config.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { CorruptError, EXIT, NoSpaceError, SysbackError, UserError } from '../../core/errors.ts';
import type { Prompter } from '../../core/prompter.ts';
import { backupPatterns } from '../../backup/files-list.ts';
import { ARCHIVES_DIR, GENERATION_NAME, MANIFEST_NAME, generationChoices, parseManifest, pickGeneration, type Generation, type Manifest, type OrderedGeneration } from '../../backup/manifest.ts';
import type { FlowOptions } from '../../firstboot/flows.ts';
import type { DeviceContext } from '../../grid/device.ts';
import { readRetrying, type RetryPolicy, type TahoeClient } from '../../grid/tahoe-client.ts';
import { ArchiveReadError, describePlan, reviewPlan, type PlanReview } from '../restore-plan.ts';
import type { RestoreResult } from '../safe-extract.ts';
import { ArchiveMismatchError, stageArchive, type StagedRestore } from '../staged-restore.ts';
import type { PrivateArea } from './e-private-area.ts';

/** The manifest of the old private area, read as `reads` says; a damaged (or unreadable) one falls back to the archives listing. */
async function readOldManifest(ctx: DeviceContext, api: TahoeClient, dirCap: string, reads: RetryPolicy): Promise<Manifest | undefined> {
  try {
    return parseManifest((await readRetrying('reading the old manifest', () => api.getBytes(dirCap, MANIFEST_NAME), reads)).toString('utf8'));
  } catch (error) {
    ctx.log.warn(`the backup manifest cannot be used (${(error as Error).message}); using the archives listing`);
    return undefined;
  }
}

/**
 * This image's own files.txt, as patterns; undefined when the root has none (not a sysback image:
 * `recover --root DIR` onto a bare tree). A thief cannot remove it from the fresh router.
 */
function imagePatterns(ctx: DeviceContext): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(ctx.path(DEVICE.filesList), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return backupPatterns(text);
}

/** The generations newest first: the manifest's order, or (no manifest) the archives listing by name, with this image's files.txt. */
async function listGenerations(ctx: DeviceContext, api: TahoeClient, dirCap: string, manifest: Manifest | undefined): Promise<OrderedGeneration[]> {
  if (manifest) return [...manifest.generations].sort((a, b) => b.seq - a.seq);
  // without a manifest the allowed list is this image's own files.txt, and names are all the order there is
  const patterns = imagePatterns(ctx);
  if (!patterns) throw new CorruptError('the backup manifest cannot be used and this root has no files.txt to restore by', `write ${DEVICE.filesList} (one path per line), then run sysback recover again`);
  const listed = await api.list(dirCap, ARCHIVES_DIR).catch(() => []);
  return listed
    .filter((e) => GENERATION_NAME.test(e.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((e, i) => ({ name: e.name, created: '', sha256: '', size: e.size ?? 0, entries: 0, host: '?', sysbackVersion: '?', patterns, seq: i + 1 }))
    .reverse();
}

/**
 * Which generations to try, in order: the one asked for (the answers' `generation`/`notAfter`, or
 * the person's choice, the newest by default) and, unless one was named explicitly, every older one
 * after it (the fallback when a generation cannot be read).
 */
async function chooseGenerations(prompter: Prompter, generations: OrderedGeneration[], options: FlowOptions): Promise<OrderedGeneration[]> {
  if (generations.length === 0) throw new CorruptError('this router has no backup in its private area', 'nothing to restore: choose "new" instead');
  const olderFrom = (chosen: OrderedGeneration) => generations.filter((g) => g.seq <= chosen.seq);
  const wanted = options.answers?.generation;
  const notAfter = options.answers?.notAfter;
  if (prompter.kind === 'scripted') {
    const found = pickGeneration(generations, { ...(wanted !== undefined ? { generation: wanted } : {}), ...(notAfter !== undefined ? { notAfter } : {}) });
    if (!found) {
      const what = [wanted !== undefined && `"${wanted}"`, notAfter !== undefined && `made at or before ${notAfter}`].filter(Boolean).join(' ');
      throw new UserError(`no generation ${what} in this router's backups`, `choose one of: ${generations.map((g) => `${g.name} (${g.created || '?'})`).join(', ')}`);
    }
    const explicit = wanted !== undefined && wanted !== 'latest';
    return explicit ? [found] : olderFrom(found);
  }
  prompter.say('Backups of this router (newest first; check the host and time: a backup made after the router was lost is not yours):');
  for (const line of generationChoices(generations)) prompter.say(`  ${line}`);
  const answer = await prompter.line('Restore which one? (number, Enter for 1 = the newest)', {
    key: 'generation',
    default: '1',
    validate: (typed) => (/^\d+$/.test(typed) && Number(typed) >= 1 && Number(typed) <= generations.length ? undefined : `type a number from 1 to ${generations.length}`),
  });
  const chosen = generations[Number(answer) - 1]!;
  return answer === '1' ? olderFrom(chosen) : [chosen];
}

/** The bytes of `generation` as a stream, and how to release what reading them holds. */
interface OpenedArchive {
  input: Readable;
  close(): Promise<void>;
}

/**
 * Opens `generation` for reading. The web API (and a dry run, through the public node: no private
 * node, no SFTP account) streams it straight from the grid; the mount transport copies it out of the
 * mounted area with rsync first (the seed's way), into `workDir`, and reads that file.
 */
async function openArchive(ctx: DeviceContext, area: PrivateArea, generation: Generation, workDir: string, options: FlowOptions, reads: RetryPolicy): Promise<OpenedArchive> {
  const { device } = ctx;
  const name = `${ARCHIVES_DIR}/${generation.name}`;
  if (options.dryRun || device.config().transport === 'webapi') {
    // the newest is what the person wants: a server holding its shares that is still connecting is
    // waited for (recovery/patient-reads.ts) before an older generation is taken instead
    const input = await readRetrying(`opening ${generation.name}`, () => area.api.get(area.newCap, name), reads);
    return { input, close: async () => void input.destroy() };
  }
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const archive = path.join(workDir, generation.name);
  const fs = await statfs(workDir);
  if (fs.bavail * fs.bsize < generation.size + 1024 * 1024) {
    throw new NoSpaceError(`${generation.size} bytes are needed to download the backup, ${fs.bavail * fs.bsize} are free`);
  }
  const transport = device.transport('mount', 'private', area.newCap);
  try {
    await transport.download(area.newCap, name, archive);
  } catch (error) {
    rmSync(archive, { force: true });
    throw error;
  } finally {
    await transport.close();
  }
  const input = createReadStream(archive);
  return {
    input,
    close: async () => {
      input.destroy();
      rmSync(archive, { force: true });
    },
  };
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Tries each candidate in turn (newest first): downloaded, hashed and staged in one pass
 * (recovery/staged-restore.ts); the first whose bytes are the manifest's wins. A generation that
 * cannot be downloaded, or whose bytes are not the manifest's, gives way to the next older one; a
 * verified archive that is refused (hostile, damaged when written, no space) stops the restore.
 */
async function firstStaged(
  ctx: DeviceContext,
  prompter: Prompter,
  area: PrivateArea,
  candidates: OrderedGeneration[],
  workDir: string,
  options: FlowOptions,
  reads: RetryPolicy,
): Promise<{ generation: OrderedGeneration; staged: StagedRestore }> {
  let last: unknown;
  for (const [i, generation] of candidates.entries()) {
    prompter.say(`Restoring ${generation.name} (${generation.size} bytes, made ${generation.created || 'at an unknown time'} on ${generation.host}).`);
    let opened: OpenedArchive | undefined;
    try {
      opened = await openArchive(ctx, area, generation, workDir, options, reads);
      const staged = await stageArchive({
        root: ctx.root,
        input: opened.input,
        allowed: generation.patterns,
        ...(generation.sha256 ? { expectedSha256: generation.sha256 } : {}),
        minimumBytes: generation.size,
        dryRun: Boolean(options.dryRun),
        log: ctx.log,
        runner: ctx.runner,
      });
      return { generation, staged };
    } catch (error) {
      const unreadable = opened === undefined || error instanceof ArchiveMismatchError || error instanceof ArchiveReadError;
      if (error instanceof NoSpaceError || !unreadable) throw error;
      last = error;
      const next = candidates[i + 1];
      const line = `${generation.name} cannot be read or verified (${reason(error)})${next ? `; trying the older ${next.name}` : ''}`;
      ctx.log.warn(line);
      if (prompter.kind === 'console') prompter.say(line);
    } finally {
      await opened?.close();
    }
  }
  if (candidates.length === 1) throw last;
  throw new SysbackError(`none of the ${candidates.length} generations could be downloaded and verified (the last: ${reason(last)})`, {
    exitCode: last instanceof SysbackError ? last.exitCode : EXIT.gridUnreachable,
    hint: 'check that enough storage servers are connected (sysback node status), then run sysback firstboot again',
    cause: last,
  });
}

/** The typed yes for paths beyond this image's files.txt and setuid/setgid files; false restores only the image's list. */
async function approveBeyondList(prompter: Prompter, review: PlanReview, options: FlowOptions): Promise<boolean> {
  prompter.say('This backup would restore more than this image\'s own files.txt allows:');
  for (const p of review.beyondList) prompter.say(`  beyond the list: ${p}`);
  for (const f of review.setid) prompter.say(`  setuid/setgid:   ${f.path} (mode ${f.mode})`);
  prompter.say('A thief holding the lost router could have written this backup. Restore these only if you put them there.');
  if (prompter.kind === 'scripted') {
    const yes = options.answers?.restoreBeyondList === true;
    prompter.say(yes ? 'restoreBeyondList is true in the answers: restoring them.' : 'Not restoring them (set "restoreBeyondList": true in the answers to restore them).');
    return yes;
  }
  const answer = await prompter.line('Restore them too? Type yes to restore them, no to restore only the image\'s list', {
    key: 'restoreBeyondList',
    validate: (typed) => (/^(yes|no)$/i.test(typed) ? undefined : 'type yes or no'),
  });
  return answer.toLowerCase() === 'yes';
}

/** The device keeps its own tahoe ports (they belong to this image); everything else comes back. */
async function mergeRestoredConfig(ctx: DeviceContext, own: DeviceConfig): Promise<void> {
  let restored: unknown;
  try {
    restored = JSON.parse(readFileSync(ctx.path(DEVICE.config), 'utf8'));
  } catch {
    await writeDeviceConfig(ctx, own);
    return;
  }
  // the file is left byte for byte as the lost router had it unless the merge changes something
  // (the restored router must equal the lost one: its mode, its formatting, its key order)
  const asRestored = validateDeviceConfig(restored);
  if (asRestored.ok && isDeepStrictEqual(asRestored.value.tahoe, own.tahoe)) return;
  const merged = validateDeviceConfig({ ...(restored as object), tahoe: own.tahoe });
  await writeDeviceConfig(ctx, merged.ok ? merged.value : own);
  if (!merged.ok) ctx.log.warn('the restored device config was not valid; this image\'s own config is kept');
}

export interface Extracted {
  generation: Generation;
  restore: RestoreResult;
}

/** `reads`: how the old manifest and an archive are read through the web API (recovery/patient-reads.ts on a router). */
export async function extractBackup(ctx: DeviceContext, prompter: Prompter, area: PrivateArea, options: FlowOptions, reads: RetryPolicy = {}): Promise<Extracted> {
  const config = ctx.device.config();
  const manifest = await readOldManifest(ctx, area.api, area.oldCap, reads);
  const candidates = await chooseGenerations(prompter, await listGenerations(ctx, area.api, area.oldCap, manifest), options);

  const workDir = ctx.path(`${DEVICE.stateDir}/restore`);
  let generation: OrderedGeneration;
  let restore: RestoreResult;
  let staged: StagedRestore | undefined;
  try {
    const found = await firstStaged(ctx, prompter, area, candidates, workDir, options, reads);
    generation = found.generation;
    staged = found.staged;
    const image = imagePatterns(ctx);
    if (!image) ctx.log.warn(`this root has no ${DEVICE.filesList}: the backup's own list is restored, with nothing to review it against`);
    const review = image ? reviewPlan(staged.plan, image) : { beyondList: [], setid: [] };
    const flagged = review.beyondList.length > 0 || review.setid.length > 0;
    if (options.dryRun) {
      for (const line of describePlan(staged.plan)) process.stdout.write(`${line}\n`);
      for (const p of review.beyondList) process.stdout.write(`beyond this image's files.txt (needs a typed yes): ${p}\n`);
      for (const f of review.setid) process.stdout.write(`setuid/setgid (needs a typed yes): ${f.path} (mode ${f.mode})\n`);
      return { generation, restore: { plan: staged.plan, dryRun: true, applied: 0, space: { neededBytes: 0, freeBytes: 0 } } };
    }
    const all = !flagged || (await approveBeyondList(prompter, review, options));
    restore = all ? await staged.apply() : await staged.apply({ only: image! });
  } finally {
    await staged?.discard();
    rmSync(workDir, { recursive: true, force: true });
  }
  await mergeRestoredConfig(ctx, config);
  prompter.say(`${restore.applied} files and directories restored.`);
  return { generation, restore };
}

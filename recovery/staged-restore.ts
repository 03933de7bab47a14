// Owns the one-pass restore of a backup as it is downloaded (issue 9: download, sha256 and extraction
// overlap): the archive's bytes are hashed as they arrive and, in the same pass, every entry is checked
// and written into the staging area (DEVICE.staging, on the root's filesystem, never the root itself).
// Only when the stream has ended, the sha256 matched and the whole archive passed every check is the
// plan made (recovery/restore-plan.ts planEntries: added, changed, unchanged) and handed to the caller,
// which reviews it (paths beyond this image's files.txt, setuid files) and then applies it, or a
// narrower part of it, or discards it. recovery/safe-extract.ts's two-pass restoreArchive keeps the
// same guarantees for a local file (`sysback recover --root`, tests); both share its staging and move.
// Contract:
// - nothing outside the staging area changes before `apply`; any failure, a sha256 that does not
//   match, or `discard` removes the staging area (and the parents made for it);
// - the refusals are safe-extract's: entry-policy's per-entry checks, and its tree checks applied
//   entry by entry before the entry is written (createTreeCheck), so nothing is written through a
//   symlink the archive made; every name fits NAME_MAX/PATH_MAX under the root and in staging;
// - free space: before the first write, statfs must show `minimumBytes` (the caller's lower bound,
//   e.g. the manifest's archive size) + 1 MiB; then each file is counted (rounded to 4 KiB, + 4 KiB
//   per entry) before it is written, and a file that would not fit is a NoSpaceError "not enough free
//   space to restore" without writing it; a disk that fills anyway (another writer) is a NoSpaceError
//   "the disk filled up"; either way nothing is restored;
// - a failure while the input was still arriving reads the input to its end (with `expectedSha256`):
//   when those bytes are not the expected ones the error is an ArchiveMismatchError (a damaged
//   download: the caller may try an older generation), otherwise the failure itself (a hostile or
//   damaged archive, which an older generation does not excuse);
// - `dryRun`: the same pass and checks, file contents only hashed, nothing written (not even the
//   staging area); `apply` then refuses.
// Memory: entries are kept (the plan needs them), file data never: it streams through in parser-sized
// chunks.
import { createHash } from 'node:crypto';
import { rm, statfs } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';
import { DEVICE, underRoot } from '../core/device-paths.ts';
import { CorruptError, NoSpaceError, UnsafeArchiveError } from '../core/errors.ts';
import { coveredByGlob } from '../backup/glob.ts';
import { type CheckedEntry, checkArchiveEntry, checkArchiveTree, createTreeCheck, entryPolicy, skippedOnRestore } from './entry-policy.ts';
import { planEntries, readArchive, type RestorePlan, sha256OfStream } from './restore-plan.ts';
import {
  type ApplyOptions,
  applyDirectoryMetadata,
  BLOCK,
  checkHostPathLength,
  flush,
  isNoSpace,
  mib,
  mkdirTracked,
  moveIntoPlace,
  nearestExisting,
  removeStaging,
  RESERVE,
  type RestoreResult,
  stageEntry,
  stagingDirs,
  writeFileData,
} from './safe-extract.ts';

/** The bytes read are not the ones the manifest names: a damaged or incomplete download. */
export class ArchiveMismatchError extends CorruptError {}

export interface StageOptions extends ApplyOptions {
  /** the archive's bytes (a download, or a file's read stream); read once, to its end */
  input: Readable;
  /** device paths or globs the archive may hold: the backup's files.txt patterns (manifest) */
  allowed: readonly string[];
  /** the manifest's sha256 of the archive; without it the bytes are not verified */
  expectedSha256?: string;
  /** bytes the restore needs at least, known before reading (the manifest's archive size) */
  minimumBytes?: number;
  /** plan only: check and hash everything, write nothing */
  dryRun?: boolean;
  /** device path of the staging area, default DEVICE.staging */
  staging?: string;
}

export interface StagedRestore {
  /** what applying would change (every entry of the archive is staged; `unchanged` ones stay there) */
  plan: RestorePlan;
  /** sha256 of the bytes read */
  sha256: string;
  /**
   * Moves the staged entries into place (safe-extract's phase 4 and 5). With `only` (the image's own
   * list, when the person declined what a backup adds beyond it), entries it does not cover are
   * skipped, as restoreArchive's `skipUnlisted` does. The staging area is removed either way.
   */
  apply(options?: { only?: readonly string[] }): Promise<RestoreResult>;
  /** Removes the staging area; nothing is applied. Safe to call more than once, and after apply. */
  discard(): Promise<void>;
}

/** Reads `options.input` once: sha256, checks and staging together (see the module comment). */
export async function stageArchive(options: StageOptions): Promise<StagedRestore> {
  const { root, input, log } = options;
  const stagingDevice = options.staging ?? DEVICE.staging;
  const policy = entryPolicy(options.allowed, stagingDevice);
  const staging = underRoot(root, stagingDevice);
  const dryRun = Boolean(options.dryRun);

  // the bytes pass through the hash on their way to the parser; piped only once the parser listens
  const hash = createHash('sha256');
  const hashed = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  let inputError: Error | undefined;
  let reading = false;
  input.once('error', (error) => {
    inputError = error;
    if (reading) hashed.destroy(error);
  });
  let inputEnded = false;
  const inputDone = new Promise<void>((resolve, reject) => {
    hashed.once('end', () => {
      inputEnded = true;
      resolve();
    });
    hashed.once('error', reject);
  });
  inputDone.catch(() => undefined); // awaited only after a failure
  const startReading = () => {
    reading = true;
    if (inputError) process.nextTick(() => hashed.destroy(inputError));
    else input.pipe(hashed);
    return hashed;
  };

  let created: string[] = [];
  let freeBytes = 0;
  let usedBytes = RESERVE;
  let inodeBudget = Number.POSITIVE_INFINITY;
  if (!dryRun) {
    await rm(staging, { recursive: true, force: true }); // a previous, interrupted restore's leftovers
    const fs = await statfs(await nearestExisting(staging));
    freeBytes = fs.bavail * fs.bsize;
    const atLeast = (options.minimumBytes ?? 0) + RESERVE;
    if (freeBytes < atLeast) {
      hashed.destroy();
      input.destroy();
      throw new NoSpaceError(`not enough free space to restore: at least ${mib(atLeast)} needed (the backup is ${mib(options.minimumBytes ?? 0)} compressed), ${mib(freeBytes)} free`);
    }
    if (fs.files > 0) inodeBudget = fs.ffree - 16;
    created = await mkdirTracked(staging);
  }

  const entries: Array<CheckedEntry & { sha256?: string }> = [];
  const skipped: string[] = [];
  const tree = createTreeCheck();
  const mkdirOnce = stagingDirs(staging);
  let done = 0;
  try {
    try {
      await readArchive(
        startReading,
        async (header) => {
          if (skippedOnRestore(header, policy)) {
            skipped.push(header.path);
            return;
          }
          const entry: CheckedEntry & { sha256?: string } = checkArchiveEntry(header, policy);
          tree.add(entry);
          checkHostPathLength(root, staging, entry, !dryRun);
          if (dryRun) {
            if (entry.type === 'file') entry.sha256 = await fileDigest(entry, header as AsyncIterable<Buffer>);
            entries.push(entry);
            return;
          }
          usedBytes += Math.ceil(entry.size / BLOCK) * BLOCK + BLOCK;
          if (usedBytes > freeBytes) {
            throw new NoSpaceError(`not enough free space to restore: more than ${mib(usedBytes)} needed (at ${entry.path}), ${mib(freeBytes)} free`);
          }
          if (--inodeBudget < 0) throw new NoSpaceError(`not enough free inodes to restore: more than ${entries.length + 16} needed`);
          const fileTarget = stageEntry(staging, entry, mkdirOnce, options);
          if (fileTarget) {
            const { sha256, size } = await writeFileData(fileTarget, entry, header as AsyncIterable<Buffer>, options);
            if (size !== entry.size) throw new CorruptError(`the archive is damaged: ${entry.name} holds ${size} of ${entry.size} bytes`);
            entry.sha256 = sha256;
          }
          entries.push(entry);
          done++;
          options.onProgress?.({ phase: 'stage', path: entry.path, done, total: done });
        },
        { keepInput: Boolean(options.expectedSha256) },
      );
      await inputDone;
    } catch (error) {
      // read the input to its end (if it still arrives) to know whether these were the manifest's bytes
      if (options.expectedSha256) {
        const complete = inputEnded || (await inputDone.then(() => true, () => false));
        const got = complete ? hash.digest('hex') : undefined;
        if (got !== options.expectedSha256) throw mismatch(got, error);
      }
      throw error;
    }
    const sha256 = hash.digest('hex');
    if (options.expectedSha256 && sha256 !== options.expectedSha256) throw mismatch(sha256);
    checkArchiveTree(entries); // the whole-archive form of the checks made entry by entry
    if (!dryRun) await flush(options, staging);
    const plan = await planEntries(root, entries, skipped);
    log?.info(`restore plan: ${plan.added.length} to add, ${plan.changed.length} to change, ${plan.unchanged.length} unchanged`);
    return staged(options, plan, sha256, staging, created, freeBytes, usedBytes);
  } catch (error) {
    hashed.destroy();
    input.destroy();
    if (!dryRun) await removeStaging(staging, created);
    throw isNoSpace(error) ? new NoSpaceError('the disk filled up while the backup was being unpacked; nothing was restored') : error;
  }
}

function mismatch(got: string | undefined, cause?: unknown): ArchiveMismatchError {
  const what = got ? `sha256 ${got.slice(0, 12)}…` : 'it could not be read to its end';
  const error = new ArchiveMismatchError(`the downloaded backup does not match its manifest (${what})`);
  if (cause !== undefined) (error as { cause?: unknown }).cause = cause;
  return error;
}

async function fileDigest(entry: CheckedEntry, data: AsyncIterable<Buffer>): Promise<string> {
  const { sha256, size } = await sha256OfStream(data);
  if (size !== entry.size) throw new CorruptError(`the archive is damaged: ${entry.name} holds ${size} of ${entry.size} bytes`);
  return sha256;
}

function staged(options: StageOptions, plan: RestorePlan, sha256: string, staging: string, created: string[], freeBytes: number, usedBytes: number): StagedRestore {
  const { root, log } = options;
  let gone = Boolean(options.dryRun);
  const discard = async () => {
    if (gone) return;
    gone = true;
    await removeStaging(staging, created);
  };
  return {
    plan,
    sha256,
    discard,
    async apply(applyOptions = {}) {
      if (options.dryRun) throw new Error('a dry run has nothing staged to apply');
      if (gone) throw new Error('this staged restore was already applied or discarded');
      try {
        const narrowed = applyOptions.only ? await narrowPlan(root, plan, applyOptions.only, options.staging ?? DEVICE.staging) : plan;
        const applied = await moveIntoPlace(options, narrowed, staging);
        await applyDirectoryMetadata(root, narrowed, options);
        await flush(options, root);
        log?.info(`restored ${applied} entries into ${root}`);
        return { plan: narrowed, dryRun: false, applied, space: { neededBytes: usedBytes, freeBytes } };
      } finally {
        await discard();
      }
    },
  };
}

/**
 * The plan limited to what `only` covers, as restoreArchive with `allowed: only, skipUnlisted: true`
 * would have made it: entries beyond it are skipped, and a hard link whose target lies beyond it is
 * refused (it would name a file this restore does not write).
 */
async function narrowPlan(root: string, plan: RestorePlan, only: readonly string[], stagingDevice: string): Promise<RestorePlan> {
  const policy = entryPolicy(only, stagingDevice, { skipUnlisted: true });
  const covered = (devicePath: string) => policy.allowed.some((glob) => coveredByGlob(glob, devicePath));
  const kept: Array<CheckedEntry & { sha256?: string }> = [];
  const dropped: string[] = [];
  for (const entry of plan.entries) {
    if (!covered(entry.path)) {
      dropped.push(entry.path);
      continue;
    }
    if (entry.type === 'hardlink' && !covered(entry.hardlinkTo ?? '')) {
      throw new UnsafeArchiveError(entry.name, `hard link target ${entry.hardlinkTo} is not in the backed-up list`);
    }
    const { status: _s, changes: _c, stage: _g, ...checked } = entry;
    kept.push(checked);
  }
  checkArchiveTree(kept);
  return planEntries(root, kept, [...plan.skipped, ...dropped]);
}

// Owns applying a restore safely (DESIGN §4.5; the seed's RESTORE f): extract a backup tar.gz into
// `root` with full paths, so that a hostile, damaged or too large archive changes nothing.
// Contract, in order:
// 1. plan (recovery/restore-plan.ts): every entry checked, contents hashed, compared with the system;
//    an unsafe entry is an UnsafeArchiveError and a damaged archive a CorruptError, with `root`
//    untouched. `dryRun` stops here and returns the plan.
// 1b. names: every path the restore writes (under the root and in the staging area) fits NAME_MAX
//    and PATH_MAX, else UnsafeArchiveError (exit 15) before any write.
// 2. free space: statfs on the staging filesystem must show the staged bytes (rounded to 4 KiB per
//    file) + 4 KiB per entry + 1 MiB reserve, and enough free inodes; else NoSpaceError before any write.
// 3. stage: the archive is read again and every entry re-checked (the second check) and compared with
//    the plan (a source that changed between reads is a CorruptError); added and changed entries are
//    written under DEVICE.staging, on the same filesystem as the root, with owner, mode and mtime, then
//    flushed with one `sync -f` (when a runner is given; per-file fsync cost 15 s for 3,000 files).
//    Any failure removes the staging area; ENOSPC/EDQUOT become NoSpaceError. Until here nothing
//    outside the staging area has changed.
// 4. move: parents re-checked (no symlink, the second check at move time), each file or symlink
//    renamed over its target (an atomic replace per file), directories created or kept, then the
//    archive's directories get their owner, mode and mtime, deepest first. Files that the archive does
//    not hold are never deleted, and an existing directory is never replaced by a file.
// 5. the staging area is removed. A restore interrupted at any point can simply be run again: a stale
//    staging area is removed first, and entries already in place show as unchanged.
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { lstat, mkdir, rm, rmdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { compareDevicePaths } from '../backup/files-list.ts';
import { DEVICE, underRoot } from '../core/device-paths.ts';
import { CorruptError, NoSpaceError } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import type { Runner } from '../core/runner.ts';
import { type CheckedEntry, checkArchiveEntry, checkNameLength, entryPolicy, skippedOnRestore } from './entry-policy.ts';
import { type ArchiveSource, checkParents, type PlannedEntry, planRestore, readArchive, type RestorePlan } from './restore-plan.ts';

export interface RestoreProgress {
  phase: 'stage' | 'move';
  /** device path of the entry just handled */
  path: string;
  /** entries handled so far in this phase, and how many the phase has */
  done: number;
  total: number;
}

export interface RestoreOptions {
  /** the device root: `/` on the device, a directory for `sysback recover --root DIR` */
  root: string;
  source: ArchiveSource;
  /** device paths or globs the archive may hold: the backup's files.txt patterns (manifest) */
  allowed: readonly string[];
  /** skip entries `allowed` does not cover instead of refusing the archive (the image's own list,
      when the person declined the paths a backup adds beyond it) */
  skipUnlisted?: boolean;
  /** plan only: return what would change, write nothing */
  dryRun?: boolean;
  /** set owners from the archive; default: when running as root (as GNU tar does) */
  preserveOwner?: boolean;
  /** device path of the staging area, default DEVICE.staging */
  staging?: string;
  log?: Log;
  /** when given, `sync -f` flushes the staged data before the first rename and the root after the last */
  runner?: Runner;
  onProgress?: (progress: RestoreProgress) => void;
}

/** What putting staged entries into place needs from the options (shared with recovery/staged-restore.ts). */
export type ApplyOptions = Pick<RestoreOptions, 'root' | 'preserveOwner' | 'onProgress' | 'runner' | 'log'>;

export interface RestoreResult {
  plan: RestorePlan;
  dryRun: boolean;
  /** entries written into place (added + changed); 0 for a dry run */
  applied: number;
  /** free space check: bytes needed and available (both 0 for a dry run that skipped it) */
  space: { neededBytes: number; freeBytes: number };
}

export const RESERVE = 1024 * 1024;
export const BLOCK = 4096;

export function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Bytes and inodes the staging area needs for `plan`. */
export function spaceNeeded(plan: RestorePlan): { bytes: number; inodes: number } {
  const staged = plan.entries.filter((e) => e.stage);
  const bytes = staged.reduce((sum, e) => sum + Math.ceil(e.size / BLOCK) * BLOCK + BLOCK, 0) + RESERVE;
  return { bytes, inodes: staged.length + 16 };
}

export async function nearestExisting(host: string): Promise<string> {
  for (let dir = host; ; dir = path.dirname(dir)) {
    try {
      await lstat(dir);
      return dir;
    } catch {
      if (dir === path.dirname(dir)) return dir;
    }
  }
}

/** Throws NoSpaceError unless the filesystem holding `host` has room for `plan`'s staging. */
export async function checkFreeSpace(host: string, plan: RestorePlan): Promise<{ neededBytes: number; freeBytes: number }> {
  const need = spaceNeeded(plan);
  const fs = await statfs(await nearestExisting(host));
  const freeBytes = fs.bavail * fs.bsize;
  if (freeBytes < need.bytes) {
    throw new NoSpaceError(
      `not enough free space to restore: ${mib(need.bytes)} needed (${mib(plan.stageBytes)} of files plus margin), ${mib(freeBytes)} free`,
    );
  }
  if (fs.files > 0 && fs.ffree < need.inodes) {
    throw new NoSpaceError(`not enough free inodes to restore: ${need.inodes} needed, ${fs.ffree} free`);
  }
  return { neededBytes: need.bytes, freeBytes };
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Restores the archive into `root` (see the module comment for the guarantees). */
export async function restoreArchive(options: RestoreOptions): Promise<RestoreResult> {
  const { root, source, log } = options;
  const stagingDevice = options.staging ?? DEVICE.staging;
  const policy = entryPolicy(options.allowed, stagingDevice, { skipUnlisted: Boolean(options.skipUnlisted) });
  const plan = await planRestore(root, source, options.allowed, policy);
  log?.info(`restore plan: ${plan.added.length} to add, ${plan.changed.length} to change, ${plan.unchanged.length} unchanged`);
  if (options.dryRun) return { plan, dryRun: true, applied: 0, space: { neededBytes: 0, freeBytes: 0 } };

  const staging = underRoot(root, stagingDevice);
  checkHostPathLengths(root, staging, plan);
  await rm(staging, { recursive: true, force: true }); // a previous, interrupted restore's leftovers
  const space = await checkFreeSpace(staging, plan);
  if (plan.stageCount === 0) return { plan, dryRun: false, applied: 0, space };

  const created = await mkdirTracked(staging);
  try {
    await stage(options, plan, staging, policy);
    await flush(options, staging);
  } catch (error) {
    await removeStaging(staging, created);
    throw isNoSpace(error) ? new NoSpaceError(`the disk filled up while the backup was being unpacked; nothing was restored`) : error;
  }
  let applied: number;
  try {
    applied = await moveIntoPlace(options, plan, staging);
    await applyDirectoryMetadata(root, plan, options);
    await flush(options, root);
  } finally {
    await removeStaging(staging, created);
  }
  log?.info(`restored ${applied} entries into ${root}`);
  return { plan, dryRun: false, applied, space };
}

/**
 * Every name the restore will write, under the root and in the staging area (which is deeper), fits
 * the file system's limits: checked before the first write, so ENAMETOOLONG never strikes midway.
 */
export function checkHostPathLengths(root: string, staging: string, plan: RestorePlan): void {
  for (const entry of plan.entries) checkHostPathLength(root, staging, entry, entry.stage);
}

/** checkHostPathLengths for one entry (`staged`: it is written to the staging area too). */
export function checkHostPathLength(root: string, staging: string, entry: CheckedEntry, staged: boolean): void {
  checkNameLength(entry.name, underRoot(root, entry.path), 'path on this system');
  if (staged) checkNameLength(entry.name, stagedPath(staging, entry.path), 'path in the staging area');
}

/** mkdir -p that returns the directories it created (outermost first), so a failure can remove them. */
export async function mkdirTracked(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      await lstat(d);
      break;
    } catch {
      missing.unshift(d);
      if (d === path.dirname(d)) break;
    }
  }
  // parents as plain system directories; only the staging area itself is private
  for (const d of missing) await mkdir(d, { mode: d === dir ? 0o700 : 0o755 });
  return missing;
}

export async function removeStaging(staging: string, created: readonly string[]): Promise<void> {
  await rm(staging, { recursive: true, force: true });
  for (const dir of [...created].reverse()) {
    if (dir === staging) continue;
    await rmdir(dir).catch(() => {});
  }
}

export function stagedPath(staging: string, devicePath: string): string {
  return path.join(staging, devicePath);
}

// Per-entry work below uses synchronous fs calls: a configuration backup is thousands of small files
// and a thread-pool round trip per mkdir/open/chown/rename made the restore 20 times slower than
// GNU tar. No call blocks for long: file data arrives in parser-sized chunks.
export function setOwner(file: string, entry: CheckedEntry, options: Pick<RestoreOptions, 'preserveOwner'>, isLink: boolean): void {
  if (!(options.preserveOwner ?? process.getuid?.() === 0)) return;
  (isLink ? lchownSync : chownSync)(file, entry.uid, entry.gid);
}

/** Makes a directory under the staging area (and its parents) once, however many entries it holds. */
export function stagingDirs(staging: string): (dir: string) => void {
  const made = new Set<string>([staging]);
  return (dir) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.add(dir);
  };
}

/**
 * Puts an entry's place under `staging`: its parents, and the whole of a directory, symlink or hard
 * link. Returns the path a regular file's data goes to (the caller writes it), undefined otherwise.
 */
export function stageEntry(
  staging: string,
  entry: CheckedEntry,
  mkdirOnce: (dir: string) => void,
  options: Pick<RestoreOptions, 'preserveOwner'>,
): string | undefined {
  const target = stagedPath(staging, entry.path);
  mkdirOnce(path.dirname(target));
  if (entry.type === 'directory') {
    mkdirOnce(target);
  } else if (entry.type === 'symlink') {
    symlinkSync(entry.linkTarget!, target);
    setOwner(target, entry, options, true);
    lutimesSync(target, entry.mtime, entry.mtime);
  } else if (entry.type === 'hardlink') {
    linkSync(stagedPath(staging, entry.hardlinkTo!), target);
  } else {
    return target;
  }
  return undefined;
}

/** Phase 3: writes the entries to stage under `staging`, re-checking each against the plan. */
async function stage(options: RestoreOptions, plan: RestorePlan, staging: string, policy: ReturnType<typeof entryPolicy>): Promise<void> {
  let index = 0;
  let done = 0;
  const mkdirOnce = stagingDirs(staging);
  await readArchive(options.source, async (header) => {
    if (skippedOnRestore(header, policy)) return; // the plan skipped it too
    const entry = checkArchiveEntry(header, policy);
    const planned = plan.entries[index++];
    if (!planned || planned.path !== entry.path || planned.type !== entry.type || planned.size !== entry.size) {
      throw new CorruptError(`the archive changed while it was being restored (at ${entry.name}); nothing was changed`);
    }
    if (!planned.stage) return;
    const fileTarget = stageEntry(staging, planned, mkdirOnce, options);
    if (fileTarget) await writeStagedFile(fileTarget, planned, header as AsyncIterable<Buffer>, options);
    done++;
    options.onProgress?.({ phase: 'stage', path: planned.path, done, total: plan.stageCount });
  });
  if (index !== plan.entries.length) throw new CorruptError('the archive changed while it was being restored; nothing was changed');
}

async function writeStagedFile(target: string, planned: PlannedEntry, data: AsyncIterable<Buffer>, options: RestoreOptions): Promise<void> {
  const { sha256 } = await writeFileData(target, planned, data, options);
  if (sha256 !== planned.sha256) {
    throw new CorruptError(`the archive changed while it was being restored (${planned.name}); nothing was changed`);
  }
}

/** Writes one file's data to `target` (a new file in the staging area) with the entry's owner, mode and mtime; returns its sha256 and size. */
export async function writeFileData(target: string, entry: CheckedEntry, data: AsyncIterable<Buffer>, options: Pick<RestoreOptions, 'preserveOwner'>): Promise<{ sha256: string; size: number }> {
  const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of data) {
      hash.update(chunk);
      size += chunk.length;
      for (let written = 0; written < chunk.length; ) written += writeSync(fd, chunk, written);
    }
    if (options.preserveOwner ?? process.getuid?.() === 0) fchownSync(fd, entry.uid, entry.gid);
    fchmodSync(fd, entry.mode); // after chown, which clears setuid/setgid
    futimesSync(fd, entry.mtime, entry.mtime);
    return { sha256: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/** Phase 4: renames staged entries over their targets; returns how many were put in place. */
export async function moveIntoPlace(options: ApplyOptions, plan: RestorePlan, staging: string): Promise<number> {
  const { root } = options;
  const toMove = plan.entries.filter((e) => e.status !== 'unchanged').sort((a, b) => compareDevicePaths(a.path, b.path));
  // the second check, for every entry before the first rename: the system may have changed since
  // the plan (a symlink planted in a parent while staging ran); then again right before each rename
  const replaced = new Set(plan.entries.filter((e) => e.type === 'directory' && e.changes.includes('type')).map((e) => e.path));
  for (const entry of toMove) await checkParents(root, entry, replaced);
  let done = 0;
  for (const entry of toMove) {
    if (!(await checkParents(root, entry, replaced))) mkdirParents(root, entry.path);
    const target = underRoot(root, entry.path);
    if (entry.type === 'directory') {
      const existing = lstatOrUndefined(target);
      if (existing && !existing.isDirectory()) unlinkSync(target);
      if (!existing || !existing.isDirectory()) mkdirSync(target, { mode: 0o700 });
    } else {
      renameInto(stagedPath(staging, entry.path), target, entry, options);
    }
    done++;
    options.onProgress?.({ phase: 'move', path: entry.path, done, total: toMove.length });
  }
  return done;
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
}

/** Creates missing parents of `devicePath` (not in the archive) as plain 0755 directories. */
function mkdirParents(root: string, devicePath: string): void {
  let current = '';
  for (const segment of devicePath.split('/').filter((s) => s !== '').slice(0, -1)) {
    current = `${current}/${segment}`;
    const host = underRoot(root, current);
    if (!lstatOrUndefined(host)) mkdirSync(host, { mode: 0o755 });
  }
}

/** Puts one staged file or symlink in place atomically (same filesystem: one rename). */
function renameInto(staged: string, target: string, entry: PlannedEntry, options: ApplyOptions): void {
  try {
    renameSync(staged, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
  }
  // the staging area is on another filesystem (a separate /var): copy next to the target, then rename
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.sysback-${randomBytes(4).toString('hex')}`);
  try {
    if (entry.type === 'symlink') {
      symlinkSync(entry.linkTarget!, temp);
      setOwner(temp, entry, options, true);
      lutimesSync(temp, entry.mtime, entry.mtime);
    } else {
      copyFileSync(staged, temp, constants.COPYFILE_EXCL);
      setOwner(temp, entry, options, false);
      chmodSync(temp, entry.mode);
      utimesSync(temp, entry.mtime, entry.mtime);
    }
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** Owner, mode and mtime of the archive's directories, deepest first (moves touch parents' mtimes). */
export async function applyDirectoryMetadata(root: string, plan: RestorePlan, options: ApplyOptions): Promise<void> {
  const dirs = plan.entries.filter((e) => e.type === 'directory').sort((a, b) => compareDevicePaths(b.path, a.path));
  for (const dir of dirs) {
    const host = underRoot(root, dir.path);
    if (!lstatOrUndefined(host)?.isDirectory()) continue;
    setOwner(host, dir, options, false);
    chmodSync(host, dir.mode);
    utimesSync(host, dir.mtime, dir.mtime);
  }
}

/** Flushes the filesystem holding `dir` (`sync -f`, i.e. syncfs) when a runner is available. */
export async function flush(options: Pick<RestoreOptions, 'runner'>, dir: string): Promise<void> {
  await options.runner?.run(['sync', '-f', dir]);
}

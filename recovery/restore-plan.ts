// Owns the restore plan (DESIGN §4.5, plan-then-apply): one read-only pass over the archive that
// checks every entry (recovery/entry-policy.ts), hashes file contents, and compares each entry with
// what is under `root` now: added, changed (and what changed) or unchanged. `--dry-run` prints it; the
// extractor (recovery/safe-extract.ts) applies it. Nothing here writes anything.
// Contract:
// - any unsafe entry throws UnsafeArchiveError before a single byte is written anywhere;
// - a damaged archive (bad gzip, bad tar checksum, truncated) throws CorruptError;
// - the existing system is read without following symlinks; an entry whose parent on the system is a
//   symlink is refused (UnsafeArchiveError: the restore never writes through a symlink), and an
//   entry that would replace an existing directory with a non-directory is a UserError (the restore
//   never deletes a directory tree);
// - the archive source is opened once per pass (a file path, or a function returning a fresh stream);
//   planEntries plans entries another reader already checked (recovery/staged-restore.ts, one pass).
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { underRoot } from '../core/device-paths.ts';
import { CorruptError, SysbackError, UnsafeArchiveError, UserError } from '../core/errors.ts';
import { compareDevicePaths } from '../backup/files-list.ts';
import { coveredByGlob } from '../backup/glob.ts';
import { type CheckedEntry, checkArchiveEntry, checkArchiveTree, entryPolicy, type EntryPolicy, skippedOnRestore } from './entry-policy.ts';

/** Where the archive comes from: a local file, or a function that opens a fresh stream each call. */
export type ArchiveSource = string | (() => Readable);

export type EntryStatus = 'added' | 'changed' | 'unchanged';

export interface PlannedEntry extends CheckedEntry {
  /** files: sha256 (hex) of the content in the archive */
  sha256?: string;
  status: EntryStatus;
  /** for `changed`: what differs (`type`, `content`, `target`, `mode`, `owner`, `mtime`) */
  changes: string[];
  /** the entry must be written to staging (changed or added, or the target of such a hard link) */
  stage: boolean;
}

export interface RestorePlan {
  /** every entry, in archive order */
  entries: PlannedEntry[];
  added: string[];
  changed: string[];
  unchanged: string[];
  /** device paths the archive holds that this restore does not write (secrets, sysback's own state,
      and with `skipUnlisted` the paths beyond the allowed list) */
  skipped: string[];
  /** content bytes of all files in the archive */
  contentBytes: number;
  /** content bytes and entries the staging area will hold */
  stageBytes: number;
  stageCount: number;
}

export function openSource(source: ArchiveSource): Readable {
  return typeof source === 'string' ? createReadStream(source) : source();
}

/** The archive's bytes could not be read (the file or the download failed), as opposed to damage inside them. */
export class ArchiveReadError extends UserError {}

export interface ReadArchiveOptions {
  /** on a failure, leave the input flowing (unpiped) instead of destroying it: the caller still
      reads it to its end (a streamed restore finishes the download's sha256 to tell a damaged
      download from a hostile archive) */
  keepInput?: boolean;
}

/**
 * Reads the archive entry by entry, in order; `onEntry` gets each entry and must consume its data
 * (or leave it: it is drained afterwards). A throw from `onEntry` stops the read and is rethrown;
 * archive damage becomes CorruptError, a failing input ArchiveReadError.
 */
export async function readArchive(source: ArchiveSource, onEntry: (entry: ReadEntry) => Promise<void>, options: ReadArchiveOptions = {}): Promise<void> {
  const input = openSource(source);
  const parser = new Parser({ strict: true });
  const pieces = inPieces();
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    let chain = Promise.resolve();
    // errors from `onEntry` (checks, writes) pass through as they are; the parser's mean damage
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      if (options.keepInput) {
        input.unpipe(pieces);
        pieces.unpipe(parser);
        input.resume();
      } else {
        input.destroy();
      }
      reject(error);
    };
    const damaged = (error: unknown) =>
      fail(error instanceof SysbackError ? error : new CorruptError(`the archive is damaged: ${(error as Error)?.message ?? String(error)}`));
    parser.on('entry', (entry: ReadEntry) => {
      chain = chain.then(async () => {
        if (failed) return void entry.resume();
        try {
          await onEntry(entry);
        } catch (error) {
          fail(error);
        }
        entry.resume();
      });
    });
    parser.on('error', damaged);
    parser.on('end', () => {
      chain.then(() => {
        if (!failed) resolve();
      }, fail);
    });
    input.on('error', (error) => fail(error instanceof SysbackError ? error : new ArchiveReadError(`cannot read the archive: ${error.message}`)));
    input.pipe(pieces).pipe(parser);
  });
}

/**
 * The parser inflates each piece it is written in one go: a 64 KiB piece of a highly compressible
 * file (log lines) came out as megabytes at once. Measured on the bench's archive (26 MB, 3,075
 * entries): staging peaked at +41 MB over the process's start with the download's 64 KiB pieces,
 * +24 MB with 16 KiB ones, no slower (issue 9: recover's peak RSS). Views, not copies.
 */
export const PARSER_PIECE_BYTES = 16 * 1024;

function inPieces(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (let at = 0; at < chunk.length; at += PARSER_PIECE_BYTES) this.push(chunk.subarray(at, at + PARSER_PIECE_BYTES));
      callback();
    },
  });
}

export async function sha256OfStream(stream: AsyncIterable<Buffer>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** Reads and checks the whole archive; returns its entries (files hashed) in archive order. */
export async function readCheckedEntries(source: ArchiveSource, policy: EntryPolicy, skipped: string[] = []): Promise<Array<CheckedEntry & { sha256?: string }>> {
  const entries: Array<CheckedEntry & { sha256?: string }> = [];
  const seen = new Set<string>();
  await readArchive(source, async (header) => {
    if (skippedOnRestore(header, policy)) {
      skipped.push(header.path);
      return;
    }
    const entry: CheckedEntry & { sha256?: string } = checkArchiveEntry(header, policy);
    if (seen.has(entry.path)) throw new UnsafeArchiveError(entry.name, `${entry.path} appears twice in the archive`);
    seen.add(entry.path);
    if (entry.type === 'file') {
      const { sha256, size } = await sha256OfStream(header as AsyncIterable<Buffer>);
      if (size !== entry.size) throw new CorruptError(`the archive is damaged: ${entry.name} holds ${size} of ${entry.size} bytes`);
      entry.sha256 = sha256;
    }
    entries.push(entry);
  });
  checkArchiveTree(entries);
  return entries;
}

// The system side is read with synchronous calls: thousands of small files, and a thread-pool round
// trip per lstat made planning many times slower than the work itself.
function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function sha256OfFile(file: string): string {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(256 * 1024);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function typeOfStat(stat: Stats): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  return 'special file';
}

/**
 * Checks that every existing ancestor of `devicePath` under `root` is a real directory (not a symlink).
 * Returns false when an ancestor is missing or will be replaced (`replaced` holds device paths the
 * restore turns into directories), i.e. the entry is certainly new. Used by the plan and again right
 * before each move.
 */
export async function checkParents(root: string, entry: { name: string; path: string }, replaced: ReadonlySet<string> = new Set()): Promise<boolean> {
  const segments = entry.path.split('/').filter((s) => s !== '');
  let current = '';
  for (const segment of segments.slice(0, -1)) {
    current = `${current}/${segment}`;
    if (replaced.has(current)) return false;
    const stat = lstatOrUndefined(underRoot(root, current));
    if (!stat) return false;
    if (stat.isSymbolicLink()) {
      throw new UnsafeArchiveError(entry.name, `${current} is a symlink on this system; the restore never writes through a symlink`);
    }
    if (!stat.isDirectory()) {
      throw new UserError(
        `cannot restore ${entry.path}: ${current} is a ${typeOfStat(stat)} on this system, not a directory`,
        `move ${current} away and run the restore again`,
      );
    }
  }
  return true;
}

/** Compares one checked entry with what is at its place under `root`. */
async function compareWithSystem(root: string, entry: CheckedEntry & { sha256?: string }, replaced: Set<string>, byPath: Map<string, PlannedEntry>): Promise<Pick<PlannedEntry, 'status' | 'changes'>> {
  if (!(await checkParents(root, entry, replaced))) return { status: 'added', changes: [] };
  const host = underRoot(root, entry.path);
  const stat = lstatOrUndefined(host);
  if (!stat) return { status: 'added', changes: [] };
  const existing = typeOfStat(stat);
  if (existing === 'directory' && entry.type !== 'directory') {
    throw new UserError(
      `cannot restore ${entry.path}: it is a directory on this system and a ${entry.type} in the archive`,
      `move ${entry.path} away and run the restore again`,
    );
  }
  const wanted = entry.type === 'hardlink' ? 'file' : entry.type;
  if (existing !== wanted) {
    if (entry.type === 'directory') replaced.add(entry.path);
    return { status: 'changed', changes: ['type'] };
  }
  const changes: string[] = [];
  if (entry.type === 'file' && (stat.size !== entry.size || sha256OfFile(host) !== entry.sha256)) changes.push('content');
  if (entry.type === 'symlink' && readlinkSync(host) !== entry.linkTarget) changes.push('target');
  if (entry.type === 'hardlink') {
    const target = byPath.get(entry.hardlinkTo ?? '');
    const targetStat = lstatOrUndefined(underRoot(root, entry.hardlinkTo ?? '/'));
    if (!target || target.status !== 'unchanged' || !targetStat || targetStat.ino !== stat.ino || targetStat.dev !== stat.dev) {
      changes.push('link');
    }
    return { status: changes.length ? 'changed' : 'unchanged', changes };
  }
  if (entry.type !== 'symlink' && (stat.mode & 0o7777) !== entry.mode) changes.push('mode');
  if (stat.uid !== entry.uid || stat.gid !== entry.gid) changes.push('owner');
  if (entry.type !== 'symlink' && Math.floor(stat.mtimeMs / 1000) !== entry.mtime) changes.push('mtime');
  return { status: changes.length ? 'changed' : 'unchanged', changes };
}

/**
 * The restore plan for `source` into `root`, allowing only `allowed` (device paths or globs). Reads
 * the archive once and the system read-only.
 */
export async function planRestore(root: string, source: ArchiveSource, allowed: readonly string[], policy: EntryPolicy = entryPolicy(allowed)): Promise<RestorePlan> {
  const skipped: string[] = [];
  const checked = await readCheckedEntries(source, policy, skipped);
  return planEntries(root, checked, skipped);
}

/**
 * The plan for entries already read and checked (in archive order, files hashed), compared with the
 * system under `root`; `skipped` names what the read skipped. The entries become the plan's own
 * (they are extended in place, not copied: a backup may hold tens of thousands).
 */
export async function planEntries(root: string, checked: Array<CheckedEntry & { sha256?: string }>, skipped: readonly string[]): Promise<RestorePlan> {
  const replaced = new Set<string>();
  const byPath = new Map<string, PlannedEntry>();
  // parents before children (so `replaced` is known), hard links after the files they name
  const order = [...checked].sort((a, b) => Number(a.type === 'hardlink') - Number(b.type === 'hardlink') || compareDevicePaths(a.path, b.path));
  for (const entry of order) {
    const planned = Object.assign(entry, await compareWithSystem(root, entry, replaced, byPath), { stage: false }) as PlannedEntry;
    planned.stage = planned.status !== 'unchanged';
    byPath.set(entry.path, planned);
  }
  // a staged hard link needs its target staged too (links are made inside the staging area)
  // and is put in place again, so both names share one inode as in the archive
  for (const planned of byPath.values()) {
    const target = planned.type === 'hardlink' && planned.stage ? byPath.get(planned.hardlinkTo ?? '') : undefined;
    if (target && !target.stage) Object.assign(target, { stage: true, status: 'changed', changes: ['link'] });
  }
  const entries = checked as PlannedEntry[];
  const pick = (status: EntryStatus) => entries.filter((e) => e.status === status).map((e) => e.path).sort(compareDevicePaths);
  const staged = entries.filter((e) => e.stage);
  return {
    entries,
    added: pick('added'),
    changed: pick('changed'),
    unchanged: pick('unchanged'),
    skipped: skipped.map((name) => `/${name.split('/').filter((s) => s !== '' && s !== '.').join('/')}`).sort(compareDevicePaths),
    contentBytes: entries.reduce((sum, e) => sum + e.size, 0),
    stageBytes: staged.reduce((sum, e) => sum + e.size, 0),
    stageCount: staged.length,
  };
}

/** The plan as lines for a person (`sysback recover --dry-run`): one line per added or changed entry. */
export function describePlan(plan: RestorePlan): string[] {
  const lines = plan.entries
    .filter((e) => e.status !== 'unchanged')
    .sort((a, b) => compareDevicePaths(a.path, b.path))
    .map((e) => (e.status === 'added' ? `add     ${e.path}` : `change  ${e.path} (${e.changes.join(', ')})`));
  for (const skipped of plan.skipped) lines.push(`skip    ${skipped}`);
  lines.push(`${plan.added.length} to add, ${plan.changed.length} to change, ${plan.unchanged.length} unchanged${plan.skipped.length ? `, ${plan.skipped.length} skipped` : ''}`);
  return lines;
}

export interface PlanReview {
  /** device paths the archive would write that the image's own files.txt does not cover, sorted */
  beyondList: string[];
  /** files the archive would write with the setuid or setgid bit, and their modes (octal) */
  setid: Array<{ path: string; mode: string }>;
}

/**
 * What a person must see before a restore (the thief-wrote-the-backup case, docs/security.md): the
 * paths beyond the image's own list (`imagePatterns`, from its files.txt: backupPatterns(text)) and
 * every setuid/setgid file the plan adds or changes. Pure; the flow shows them, asks a typed yes,
 * and restores with `skipUnlisted` over the image's list when the answer is no.
 */
export function reviewPlan(plan: RestorePlan, imagePatterns: readonly string[]): PlanReview {
  const policy = entryPolicy(imagePatterns);
  const beyondList = plan.entries
    .filter((e) => !policy.allowed.some((glob) => coveredByGlob(glob, e.path)))
    .map((e) => e.path)
    .sort(compareDevicePaths);
  const setid = plan.entries
    .filter((e) => e.type === 'file' && (e.mode & 0o6000) !== 0 && e.status !== 'unchanged')
    .sort((a, b) => compareDevicePaths(a.path, b.path))
    .map((e) => ({ path: e.path, mode: e.mode.toString(8).padStart(4, '0') }));
  return { beyondList, setid };
}

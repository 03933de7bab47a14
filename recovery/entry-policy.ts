// Owns what a restore accepts from an archive (DESIGN §4.5): the pure checks run on every entry's
// header before anything is written, and again while staging. No file system access here.
// Contract: an entry is accepted only if
// - its name is relative, has no `..` segment and no NUL, and does not name the root itself;
// - no name component is longer than NAME_MAX (255 bytes) and the device path fits PATH_MAX (4096
//   bytes with its NUL), nor does a symlink target: such a name could never be written (ENAMETOOLONG
//   mid-restore), so it is refused before anything is (UnsafeArchiveError, exit 15);
// - it is a regular file, a directory, a symlink or a hard link (device nodes, FIFOs and every other
//   type are refused);
// - its device path is covered by the allowed list (the backup's files.txt patterns) and is not the
//   restore's own staging area;
// - a symlink's target does not climb above the root: a relative target is resolved from the link's
//   directory, an absolute one is taken as a device path and may not contain `..` at all (absolute
//   targets such as /etc/localtime -> /usr/share/zoneinfo/UTC are normal and kept verbatim: the
//   restore never writes *through* a symlink, see checkArchiveTree);
// - a hard link names an earlier regular file of the same archive (so it can never reach a file
//   outside the root);
// - no name appears twice, and nothing lies below an entry that is not a directory (the classic
//   "symlink, then a file written through it").
// Every refusal is an UnsafeArchiveError naming the entry as it appears in the archive.
// Entries that are never backed up (backup/files-list.ts NEVER_BACKED_UP: the answers file, password
// files, sysback's state and node directories) are *skipped* on restore, not refused, so a backup
// made before that list existed still restores, and an archive a thief wrote cannot plant them.
import path from 'node:path';
import { neverBackedUp } from '../backup/files-list.ts';
import { type CompiledGlob, compileGlob, coveredByGlob, globProblem } from '../backup/glob.ts';
import { DEVICE } from '../core/device-paths.ts';
import { CorruptError, UnsafeArchiveError } from '../core/errors.ts';

/** Linux's limits: one name component, and a whole path including its final NUL. */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** The header fields a restore looks at (node-tar's ReadEntry has them all). */
export interface ArchiveHeader {
  path: string;
  type: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkpath?: string;
}

export interface CheckedEntry {
  /** the name as stored in the archive, for messages */
  name: string;
  /** absolute device path, normalized (`/etc/hostname`) */
  path: string;
  type: EntryType;
  /** content bytes (files only; 0 otherwise) */
  size: number;
  /** permission bits incl. setuid/setgid/sticky */
  mode: number;
  uid: number;
  gid: number;
  /** whole seconds since the epoch */
  mtime: number;
  /** symlinks: the target, verbatim */
  linkTarget?: string;
  /** hard links: the device path of the file it links to */
  hardlinkTo?: string;
}

export interface EntryPolicy {
  allowed: readonly CompiledGlob[];
  /** skip (instead of refusing) entries the allowed list does not cover: the image's own files.txt
      applied to a backup that lists more, once the person said no to the extra paths */
  skipUnlisted?: boolean;
  /** device path of the restore's staging area; never a valid target */
  staging: string;
}

/**
 * Compiles the allowed list (device paths or globs, as in files.txt) into a policy. An invalid
 * pattern (the list comes from a manifest, which may be damaged or hostile) is a CorruptError.
 */
export function entryPolicy(allowed: readonly string[], staging: string = DEVICE.staging, options: { skipUnlisted?: boolean } = {}): EntryPolicy {
  for (const pattern of allowed) {
    const problem = globProblem(pattern);
    if (problem) throw new CorruptError(`the backup's list of allowed paths holds an invalid pattern: ${problem}`);
  }
  return { allowed: allowed.map(compileGlob), staging, ...(options.skipUnlisted ? { skipUnlisted: true } : {}) };
}

/**
 * True for an entry a restore skips: a secret or sysback's own state (never backed up), or, with
 * `skipUnlisted`, a path the allowed list does not cover.
 */
export function skippedOnRestore(header: Pick<ArchiveHeader, 'path'>, policy?: EntryPolicy): boolean {
  const devicePath = devicePathOfName(header.path);
  if (neverBackedUp(devicePath)) return true;
  return policy?.skipUnlisted === true && !policy.allowed.some((glob) => coveredByGlob(glob, devicePath));
}

/** Throws unless every component of `devicePath` fits NAME_MAX and the whole fits PATH_MAX. */
export function checkNameLength(name: string, devicePath: string, what = 'name'): void {
  for (const segment of devicePath.split('/')) {
    const bytes = Buffer.byteLength(segment);
    if (bytes > NAME_MAX) {
      throw new UnsafeArchiveError(name.slice(0, 120), `a ${what} component is ${bytes} bytes, over the file system's limit of ${NAME_MAX}`);
    }
  }
  const total = Buffer.byteLength(devicePath);
  if (total >= PATH_MAX) throw new UnsafeArchiveError(name.slice(0, 120), `the ${what} is ${total} bytes, over the file system's limit of ${PATH_MAX - 1}`);
}

/** The device path of an archive member name, or the reason it is unsafe. */
export function devicePathOfName(name: string): string {
  if (name.includes('\0')) throw new UnsafeArchiveError(name, 'the name contains a NUL byte');
  if (name.startsWith('/')) throw new UnsafeArchiveError(name, 'absolute path; backup archives hold relative paths only');
  const segments = name.split('/');
  if (segments.includes('..')) throw new UnsafeArchiveError(name, 'the path contains "..", which could leave the root');
  const kept = segments.filter((s) => s !== '' && s !== '.');
  if (kept.length === 0) throw new UnsafeArchiveError(name, 'the entry names the root itself');
  const devicePath = `/${kept.join('/')}`;
  checkNameLength(name, devicePath);
  return devicePath;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

function entryType(header: ArchiveHeader): EntryType {
  if (FILE_TYPES.has(header.type)) return 'file';
  if (header.type === 'Directory') return 'directory';
  if (header.type === 'SymbolicLink') return 'symlink';
  if (header.type === 'Link') return 'hardlink';
  if (header.type === 'CharacterDevice' || header.type === 'BlockDevice') {
    throw new UnsafeArchiveError(header.path, 'device nodes are never restored');
  }
  if (header.type === 'FIFO') throw new UnsafeArchiveError(header.path, 'FIFOs are never restored');
  throw new UnsafeArchiveError(header.path, `unsupported entry type "${header.type}"`);
}

/** Throws when a symlink target, resolved as the device would, climbs above the root. */
export function checkSymlinkTarget(name: string, devicePath: string, target: string | undefined): string {
  if (!target) throw new UnsafeArchiveError(name, 'symlink without a target');
  if (target.includes('\0')) throw new UnsafeArchiveError(name, 'symlink target contains a NUL byte');
  if (Buffer.byteLength(target) >= PATH_MAX) {
    throw new UnsafeArchiveError(name.slice(0, 120), `the symlink target is ${Buffer.byteLength(target)} bytes, over the file system's limit of ${PATH_MAX - 1}`);
  }
  const segments = target.split('/');
  if (target.startsWith('/')) {
    if (segments.includes('..')) {
      throw new UnsafeArchiveError(name, `absolute symlink target "${target}" uses ".." to escape the root`);
    }
    return target;
  }
  const depth: string[] = path.posix.dirname(devicePath).split('/').filter((s) => s !== '');
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (depth.length === 0) throw new UnsafeArchiveError(name, `symlink target "${target}" escapes the root`);
      depth.pop();
    } else {
      depth.push(segment);
    }
  }
  return target;
}

/** Checks one header on its own (path, type, allowed list, link targets). Pure. */
export function checkArchiveEntry(header: ArchiveHeader, policy: EntryPolicy): CheckedEntry {
  const name = header.path;
  const devicePath = devicePathOfName(name);
  const type = entryType(header);
  if (devicePath === policy.staging || devicePath.startsWith(`${policy.staging}/`)) {
    throw new UnsafeArchiveError(name, `${policy.staging} is the restore's own staging area`);
  }
  if (!policy.allowed.some((glob) => coveredByGlob(glob, devicePath))) {
    throw new UnsafeArchiveError(name, `${devicePath} is not in the backed-up list`);
  }
  const entry: CheckedEntry = {
    name,
    path: devicePath,
    type,
    size: type === 'file' ? (header.size ?? 0) : 0,
    mode: (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    mtime: header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0,
  };
  if (type === 'symlink') entry.linkTarget = checkSymlinkTarget(name, devicePath, header.linkpath);
  if (type === 'hardlink') {
    const target = header.linkpath ?? '';
    let to: string;
    try {
      to = devicePathOfName(target);
    } catch {
      throw new UnsafeArchiveError(name, `hard link target "${target}" escapes the root`);
    }
    if (!policy.allowed.some((glob) => coveredByGlob(glob, to))) {
      throw new UnsafeArchiveError(name, `hard link target ${to} is not in the backed-up list`);
    }
    entry.hardlinkTo = to;
  }
  return entry;
}

/**
 * Checks the entries together, in archive order: no duplicates, nothing below a non-directory entry,
 * hard links only to an earlier regular file. Pure.
 */
export function checkArchiveTree(entries: readonly CheckedEntry[]): void {
  const seen = new Map<string, CheckedEntry>();
  for (const entry of entries) {
    if (seen.has(entry.path)) throw new UnsafeArchiveError(entry.name, `${entry.path} appears twice in the archive`);
    if (entry.type === 'hardlink') {
      const target = seen.get(entry.hardlinkTo ?? '');
      if (!target || target.type !== 'file') {
        throw new UnsafeArchiveError(entry.name, `hard link to ${entry.hardlinkTo}, which is not a regular file earlier in the archive`);
      }
    }
    seen.set(entry.path, entry);
  }
  for (const entry of entries) {
    for (let parent = path.posix.dirname(entry.path); parent !== '/'; parent = path.posix.dirname(parent)) {
      const above = seen.get(parent);
      if (above && above.type !== 'directory') {
        throw new UnsafeArchiveError(entry.name, `it lies below ${parent}, which the archive makes a ${above.type}, not a directory`);
      }
    }
  }
}

/**
 * checkArchiveTree one entry at a time, for a reader that writes each entry as it arrives
 * (recovery/staged-restore.ts): `add` throws before the entry is written when, with the entries
 * added so far, checkArchiveTree would refuse the archive (a duplicate, a hard link to anything but
 * an earlier regular file, an entry below a non-directory, or a non-directory above an earlier
 * entry). So nothing is ever written through a symlink the archive itself made.
 */
export function createTreeCheck(): { add(entry: CheckedEntry): void } {
  const seen = new Map<string, CheckedEntry>();
  /** every ancestor of an entry so far (implied directories), with the first entry below it */
  const below = new Map<string, CheckedEntry>();
  return {
    add(entry) {
      if (seen.has(entry.path)) throw new UnsafeArchiveError(entry.name, `${entry.path} appears twice in the archive`);
      if (entry.type === 'hardlink') {
        const target = seen.get(entry.hardlinkTo ?? '');
        if (!target || target.type !== 'file') {
          throw new UnsafeArchiveError(entry.name, `hard link to ${entry.hardlinkTo}, which is not a regular file earlier in the archive`);
        }
      }
      if (entry.type !== 'directory') {
        const child = below.get(entry.path);
        if (child) throw new UnsafeArchiveError(child.name, `it lies below ${entry.path}, which the archive makes a ${entry.type}, not a directory`);
      }
      for (let parent = path.posix.dirname(entry.path); parent !== '/'; parent = path.posix.dirname(parent)) {
        const above = seen.get(parent);
        if (above && above.type !== 'directory') {
          throw new UnsafeArchiveError(entry.name, `it lies below ${parent}, which the archive makes a ${above.type}, not a directory`);
        }
        if (below.has(parent)) break; // its ancestors were checked and recorded with it
        below.set(parent, entry);
      }
      seen.set(entry.path, entry);
    },
  };
}

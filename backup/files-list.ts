// Owns /etc/sysback/files.txt: what a backup saves (DESIGN §3, §4.4; the seed's BACKING a).
// Contract:
// - the list is one absolute device path or glob per line (glob syntax: backup/glob.ts); blank lines
//   and lines starting with `#` are ignored; a relative path or one containing `..` is a ConfigError
//   naming every bad line;
// - `/var/spool/cron` is always saved (the seed says so): when no line covers it, it is added and a
//   warning says so;
// - `listBackupEntries` expands the list under `root` without following symlinks (a symlink is saved
//   as a symlink; a path that goes *through* a symlink is skipped with a warning, since following it
//   could leave the root) and returns the sorted device paths, directories expanded recursively;
// - a line that matches nothing is a warning; a file that vanishes or cannot be read during the walk
//   is a warning and is skipped, unless its path was listed literally, which is a UserError;
// - sockets, FIFOs and device nodes are skipped with a warning (restore refuses them anyway);
// - an invalid glob (`/etc/[z-a]`, an unclosed `[`) is a ConfigError naming its line, at parse time;
// - secrets and sysback's own scratch are never listed, whatever files.txt says (NEVER_BACKED_UP:
//   the answers file and any password file beside it, the lock, the state, the node directories
//   with their caps and keys, the mount points, staging, download and upload scratch), plus any path
//   the caller adds (`exclude`); `loadBackupList` adds every answers file and password file, wherever
//   it lies, that this process read or an earlier flow recorded (core/config/answers-secret-paths.ts:
//   a passwordFile outside /etc/sysback stays on disk and is never saved); each is dropped with its whole
//   subtree, and a warning says so once per excluded path that was really listed.
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { DEVICE, underRoot } from '../core/device-paths.ts';
import { SECRET_PATHS_GLOBS, secretDevicePaths } from '../core/config/answers-secret-paths.ts';
import { ConfigError, type ConfigProblem, UserError } from '../core/errors.ts';
import { type CompiledGlob, compileGlob, coveredByGlob, globProblem, isGlob, segmentMatches } from './glob.ts';

export interface FilesListPattern {
  /** 1-based line number in files.txt, 0 for a line sysback added itself */
  line: number;
  /** the absolute device path or glob, normalized (no trailing slash, no doubled slashes) */
  pattern: string;
  glob: boolean;
}

export interface BackupList {
  /** the patterns the list was expanded from (with /var/spool/cron added when missing) */
  patterns: FilesListPattern[];
  /** sorted, unique device paths (`/etc`, `/etc/hostname`, ...): parents always before children */
  entries: string[];
  /** device paths named literally in the list: vanishing or unreadable is an error for these */
  explicit: string[];
  /** for a person: lines that matched nothing, skipped files, /var/spool/cron added */
  warnings: string[];
}

const LIST_FILE = 'files.txt';

/**
 * Device paths (globs allowed) never saved in a backup and never restored from one, whatever
 * files.txt says: secrets (the answers file, password files beside it) and sysback's own working
 * state. The node directories hold the private area's write cap and the node's keys: those come back
 * only through the encrypted identity, never from an archive a thief may have written.
 */
export const NEVER_BACKED_UP: readonly string[] = [
  DEVICE.answers,
  `${DEVICE.configDir}/.answers.json.*`,
  `${DEVICE.configDir}/*password*`,
  `${DEVICE.configDir}/*.secret`,
  `${DEVICE.lock}*`,
  DEVICE.state,
  `${DEVICE.stateDir}/.state.json.*`,
  DEVICE.staging,
  DEVICE.cardAtLogin,
  `${DEVICE.stateDir}/restore`,
  `${DEVICE.stateDir}/SysBackup.tar.gz`,
  `${DEVICE.stateDir}/tahoe`,
  `${DEVICE.stateDir}/mnt`,
  ...SECRET_PATHS_GLOBS,
];

const NEVER = NEVER_BACKED_UP.map(compileGlob);

/** True when `devicePath` is a secret or scratch path (or lies below one): never saved, never restored. */
export function neverBackedUp(devicePath: string, extra: readonly CompiledGlob[] = []): boolean {
  return NEVER.some((g) => coveredByGlob(g, devicePath)) || extra.some((g) => coveredByGlob(g, devicePath));
}

/** Parses files.txt. Pure; throws ConfigError with every bad line. Does not add /var/spool/cron. */
export function parseFilesList(text: string): FilesListPattern[] {
  const patterns: FilesListPattern[] = [];
  const problems: ConfigProblem[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${index + 1}`;
    if (!line.startsWith('/')) {
      problems.push({ path: where, message: `"${line}" is not an absolute path (start it with /)` });
      return;
    }
    if (line.split('/').includes('..')) {
      problems.push({ path: where, message: `"${line}" contains "..", which is not allowed` });
      return;
    }
    const pattern = `/${line.split('/').filter((s) => s !== '' && s !== '.').join('/')}`;
    const problem = globProblem(pattern);
    if (problem) {
      problems.push({ path: where, message: `"${line.slice(0, 200)}" is not a valid pattern: ${problem}` });
      return;
    }
    patterns.push({ line: index + 1, pattern, glob: isGlob(pattern) });
  });
  if (problems.length > 0) throw new ConfigError(LIST_FILE, problems);
  return patterns;
}

/** The list's patterns plus /var/spool/cron when no line covers it; `added` says whether it was added. */
export function withCronSpool(patterns: readonly FilesListPattern[]): { patterns: FilesListPattern[]; added: boolean } {
  const covered = patterns.some((p) => coveredByGlob(p.pattern, DEVICE.cronSpool));
  if (covered) return { patterns: [...patterns], added: false };
  return { patterns: [...patterns, { line: 0, pattern: DEVICE.cronSpool, glob: false }], added: true };
}

/** The patterns a backup saves and a restore allows: the parsed list plus /var/spool/cron. */
export function backupPatterns(listText: string): string[] {
  return withCronSpool(parseFilesList(listText)).patterns.map((p) => p.pattern);
}

type Kind = 'file' | 'directory' | 'symlink' | 'other';

function kindOf(stat: Stats | Dirent): Kind {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  return 'other';
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function joinDevice(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * Expands the list under `root` (a directory standing for the device's `/`). Reads the file system,
 * writes nothing. Throws ConfigError for a malformed list and UserError when a literally listed path
 * cannot be read.
 */
export async function listBackupEntries(root: string, listText: string, options: { exclude?: readonly string[] } = {}): Promise<BackupList> {
  const { patterns, added } = withCronSpool(parseFilesList(listText));
  const extra = (options.exclude ?? []).map(compileGlob);
  const warnings: string[] = [];
  const excludedSeen = new Set<string>();
  if (added) warnings.push(`${DEVICE.cronSpool} was not in ${LIST_FILE}; it is always backed up, so it was added`);
  const entries = new Set<string>();
  const explicit = new Set<string>();
  const staging = DEVICE.staging;
  const isStaging = (p: string) => p === staging || p.startsWith(`${staging}/`);

  const fail = (devicePath: string, error: unknown, what: string): never => {
    throw new UserError(
      `cannot ${what} ${devicePath}, which ${LIST_FILE} lists explicitly: ${errno(error) ?? String(error)}`,
      `make it readable or remove it from ${DEVICE.filesList}`,
    );
  };

  // Adds a path found by a pattern, and everything below it when it is a directory.
  const addTree = async (devicePath: string, kind: Kind, isExplicit: boolean): Promise<void> => {
    if (isStaging(devicePath)) return;
    if (neverBackedUp(devicePath, extra)) {
      if (!excludedSeen.has(devicePath)) {
        excludedSeen.add(devicePath);
        warnings.push(`${devicePath} holds a secret or sysback's own state; it is never backed up, whatever ${LIST_FILE} says`);
      }
      return;
    }
    if (kind === 'other') {
      warnings.push(`${devicePath} is a socket, FIFO or device node; skipped`);
      return;
    }
    // the root itself is no entry (a list holding `/` saves everything below it)
    if (devicePath !== '/') entries.add(devicePath);
    if (kind !== 'directory') return;
    let children: Dirent[];
    try {
      children = await readdir(underRoot(root, devicePath), { withFileTypes: true });
    } catch (error) {
      if (isExplicit) fail(devicePath, error, 'read the directory');
      warnings.push(`${devicePath} vanished or cannot be read (${errno(error) ?? String(error)}); skipped`);
      entries.delete(devicePath);
      return;
    }
    for (const child of children) {
      await addTree(joinDevice(devicePath, child.name), kindOf(child), false);
    }
  };

  for (const p of patterns) {
    const matches = await expandPattern(root, compileGlob(p.pattern), warnings);
    for (const match of matches) {
      const literal = !p.glob;
      if (literal) explicit.add(match.path);
      await addTree(match.path, match.kind, literal);
    }
    if (matches.length === 0) {
      const where = p.line === 0 ? '(added by sysback)' : `(line ${p.line})`;
      warnings.push(`${p.pattern} ${where} matches nothing under the root; nothing saved for it`);
    }
  }
  const sorted = [...entries].sort(compareDevicePaths);
  return { patterns, entries: sorted, explicit: [...explicit].sort(compareDevicePaths), warnings };
}

/** A device path as a glob matching exactly that path (wildcards and backslashes escaped). */
export function literalGlob(devicePath: string): string {
  return devicePath.replace(/[\\*?[\]]/g, '\\$&');
}

/**
 * Reads files.txt of the device under ctx.root and expands it; logs every warning. `exclude`: more
 * device paths (globs) never to save; the answers files and password files of
 * `secretDevicePaths(ctx)` are always added.
 */
export async function loadBackupList(ctx: Context, options: { exclude?: readonly string[] } = {}): Promise<BackupList> {
  const exclude = [...(options.exclude ?? []), ...secretDevicePaths(ctx).map(literalGlob)];
  let text: string;
  try {
    text = await readFile(ctx.path(DEVICE.filesList), 'utf8');
  } catch (error) {
    throw new UserError(
      `cannot read ${DEVICE.filesList}: ${errno(error) ?? String(error)}`,
      'the builder ships a default list; restore it or write one path per line',
    );
  }
  const list = await listBackupEntries(ctx.root, text, { exclude });
  for (const warning of list.warnings) ctx.log.warn(warning);
  return list;
}

/**
 * The one order of device paths (code-unit order: byte order for ASCII names); a directory always
 * sorts before what it contains, since a prefix sorts first.
 */
export function compareDevicePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Match {
  path: string;
  kind: Kind;
}

/** All existing device paths under `root` matching the compiled pattern; never follows symlinks. */
async function expandPattern(root: string, glob: CompiledGlob, warnings: string[]): Promise<Match[]> {
  const found = new Map<string, Kind>();
  // each (directory, pattern position) is walked once: many `**` would otherwise revisit a tree
  // once per way of splitting it between them (exponential in the number of `**`)
  const visited = new Set<string>();
  const walk = async (dir: string, index: number): Promise<void> => {
    const key = `${index}\0${dir}`;
    if (visited.has(key)) return;
    visited.add(key);
    if (index === glob.segments.length) {
      const stat = await lstatOrUndefined(root, dir);
      if (stat) found.set(dir, kindOf(stat));
      return;
    }
    const segment = glob.segments[index]!;
    if (segment.kind === 'globstar') {
      await walk(dir, index + 1);
      for (const child of await directoryChildren(root, dir)) {
        if (child.kind === 'directory') await walk(child.path, index);
      }
      return;
    }
    const last = index === glob.segments.length - 1;
    const candidates =
      segment.kind === 'literal'
        ? await literalChild(root, dir, segment.name)
        : (await directoryChildren(root, dir)).filter((c) => segmentMatches(segment, path.posix.basename(c.path)));
    for (const child of candidates) {
      if (last) {
        found.set(child.path, child.kind);
      } else if (child.kind === 'directory') {
        await walk(child.path, index + 1);
      } else if (child.kind === 'symlink') {
        warnings.push(`${glob.pattern} goes through the symlink ${child.path}, which is not followed; list the real path`);
      }
    }
  };
  await walk('/', 0);
  return [...found].map(([p, kind]) => ({ path: p, kind })).sort((a, b) => compareDevicePaths(a.path, b.path));
}

async function lstatOrUndefined(root: string, devicePath: string): Promise<Stats | undefined> {
  try {
    return await lstat(underRoot(root, devicePath));
  } catch {
    return undefined;
  }
}

async function literalChild(root: string, dir: string, name: string): Promise<Match[]> {
  const devicePath = joinDevice(dir, name);
  const stat = await lstatOrUndefined(root, devicePath);
  return stat ? [{ path: devicePath, kind: kindOf(stat) }] : [];
}

async function directoryChildren(root: string, dir: string): Promise<Match[]> {
  try {
    const children = await readdir(underRoot(root, dir), { withFileTypes: true });
    return children.map((c) => ({ path: joinDevice(dir, c.name), kind: kindOf(c) }));
  } catch {
    return [];
  }
}

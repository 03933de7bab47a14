// Owns the metadata fingerprint of a backup list: a cheap way to tell that nothing changed since the
// last good backup WITHOUT reading file contents or building the archive (issue 3: an unchanged
// re-backup must cost under 5 % of a full one).
// Contract: the fingerprint is the sha256 over, for each device path in order, its type, size, mtime
// and ctime in nanoseconds, permission bits, uid, gid and symlink target (or "missing"), plus
// ARCHIVE_FORMAT, so a change in how archives are written also counts as a change.
// Same fingerprint => the archive would be byte-identical (short of content rewritten with size,
// mtime and ctime all restored, which needs root and intent). A different fingerprint only means
// "build the archive and compare its sha256": ctime is included because it catches content edits
// whose mtime was reset (`touch -r`, `cp -p`), at the cost of a rebuild after a mere chmod.
import { createHash } from 'node:crypto';
import { lstatSync, readlinkSync } from 'node:fs';
import { underRoot } from '../core/device-paths.ts';
import { ARCHIVE_FORMAT } from './archive-format.ts';
import { compareDevicePaths } from './files-list.ts';

function typeOf(stat: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  return 'other';
}

/**
 * sha256 (hex) over the metadata of `entries` (device paths under `root`). Reads metadata only, with
 * synchronous lstat calls (thousands of them: a thread-pool round trip each would dominate).
 */
export async function fingerprintEntries(root: string, entries: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${ARCHIVE_FORMAT}\n`);
  const sorted = [...new Set(entries)].sort(compareDevicePaths);
  for (const devicePath of sorted) {
    const host = underRoot(root, devicePath);
    let line: unknown[];
    try {
      const stat = lstatSync(host, { bigint: true });
      const type = typeOf(stat);
      const target = type === 'symlink' ? readlinkSync(host) : '';
      line = [
        devicePath,
        type,
        type === 'file' ? stat.size.toString() : '0',
        stat.mtimeNs.toString(),
        stat.ctimeNs.toString(),
        (stat.mode & 0o7777n).toString(8),
        stat.uid.toString(),
        stat.gid.toString(),
        target,
      ];
    } catch {
      line = [devicePath, 'missing'];
    }
    hash.update(`${JSON.stringify(line)}\n`);
  }
  return hash.digest('hex');
}

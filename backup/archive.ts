// Owns the backup archive SysBackup.tar.gz (DESIGN §4.4): a plain tar.gz any computer can open with
// `tar -xzpf --numeric-owner`, streamed, and byte-for-byte deterministic for an unchanged tree.
// Contract:
// - entries are device paths (from backup/files-list.ts); each is stored under its full path without
//   the leading slash (`etc/hostname`, directories as `etc/sysback/`), sorted (compareDevicePaths), parents first;
// - kept: type (file, directory, symlink with its target verbatim), permission bits (incl. setuid,
//   setgid, sticky), numeric uid and gid, mtime in whole seconds, content. Dropped, so the same tree
//   always gives the same bytes: atime, ctime, user and group names, inode numbers, hard-link identity
//   (each link is stored as a regular file), sub-second mtime. Sockets, FIFOs and devices are skipped;
// - records are ustar headers encoded by node-tar's Header, plus node-tar's pax header only when a
//   field does not fit ustar (long or non-ASCII path, huge uid or size), with no time fields in it.
//   node-tar's Pack is not used: it always adds atime/ctime (or drops uid/gid when `portable`);
// - gzip through node:zlib, with a fixed 10-byte header (MTIME 0, no name, XFL 0, OS 3): what
//   `gzip -n` writes;
// - streamed: a few file chunks (256 KiB) in flight at a time; nothing is buffered whole;
// - a file that vanishes or cannot be read between listing and archiving is skipped with a warning,
//   unless it was listed explicitly (then the stream fails with a UserError); a file that shrinks while
//   it is read is padded with zeros and one that grows is cut at its size when opened (GNU tar's rules).
import { createHash } from 'node:crypto';
import { closeSync, constants, createWriteStream, fstatSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCallback } from 'node:stream';
import { createGzip } from 'node:zlib';
import { Header, Pax } from 'tar';
import { underRoot } from '../core/device-paths.ts';
import { UserError } from '../core/errors.ts';
import { compareDevicePaths } from './files-list.ts';

export { ARCHIVE_FORMAT } from './archive-format.ts';

export const ARCHIVE_NAME = 'SysBackup.tar.gz';

const CHUNK = 256 * 1024;
const BLOCK = 512;
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

export interface ArchiveOptions {
  /** device paths listed literally: vanishing or unreadable is an error for them */
  explicit?: Iterable<string>;
  /** called for each skipped or damaged entry, as it happens */
  onWarning?: (message: string) => void;
  /** zlib level, default 6 (gzip's default) */
  gzipLevel?: number;
}

export interface ArchiveSummary {
  /** sha256 (hex) of the compressed bytes, as written */
  sha256: string;
  /** compressed size in bytes */
  size: number;
  /** entries stored (directories, files, symlinks) */
  entryCount: number;
  /** uncompressed content bytes of the stored files */
  contentBytes: number;
  warnings: string[];
}

/** The compressed archive as a stream; `summary` settles once the stream has been read to its end. */
export type ArchiveStream = Readable & { summary: Promise<ArchiveSummary> };

function errno(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
}

interface Counters {
  entryCount: number;
  contentBytes: number;
  warnings: string[];
}

interface RecordFields {
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink';
  stat: Stats;
  size: number;
  linkpath?: string;
}

/** One entry's header record(s): a pax record first when ustar cannot hold a field. */
export function headerRecords(fields: RecordFields): Buffer {
  const mtime = new Date(Math.floor(fields.stat.mtimeMs / 1000) * 1000);
  const common = {
    path: fields.path,
    mode: fields.stat.mode & 0o7777,
    uid: fields.stat.uid,
    gid: fields.stat.gid,
    size: fields.size,
    mtime,
    linkpath: fields.linkpath,
  };
  const header = new Header({ ...common, type: fields.type, uname: '', gname: '', devmaj: 0, devmin: 0 });
  const needPax = header.encode();
  const block = header.block;
  if (!block) throw new Error('node-tar did not encode a header');
  if (!needPax) return block;
  const pax = new Pax({ ...common, mode: undefined }).encode();
  return Buffer.concat([pax, block]);
}

// The records are produced with synchronous fs calls: a router's configuration is thousands of tiny
// files, and one libuv round trip per lstat/open/read/close made the archive 15 times slower than
// GNU tar. A read blocks the event loop for at most one CHUNK from the page cache or disk.
function* tarRecords(root: string, entries: readonly string[], explicit: ReadonlySet<string>, counters: Counters, warn: (m: string) => void): Generator<Buffer> {
  const sorted = [...new Set(entries)].filter((p) => p !== '/').sort(compareDevicePaths);
  const skip = (devicePath: string, error: unknown, what: string) => {
    if (explicit.has(devicePath)) {
      throw new UserError(
        `cannot ${what} ${devicePath}, which files.txt lists explicitly: ${errno(error)}`,
        'make it readable or remove it from /etc/sysback/files.txt',
      );
    }
    warn(`${devicePath} vanished or cannot be read (${errno(error)}); not in this backup`);
  };
  for (const devicePath of sorted) {
    const host = underRoot(root, devicePath);
    const name = devicePath.replace(/^\/+/, '');
    let stat: Stats;
    try {
      stat = lstatSync(host);
    } catch (error) {
      skip(devicePath, error, 'read');
      continue;
    }
    if (stat.isDirectory()) {
      counters.entryCount++;
      yield headerRecords({ path: `${name}/`, type: 'Directory', stat, size: 0 });
    } else if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = readlinkSync(host);
      } catch (error) {
        skip(devicePath, error, 'read the symlink');
        continue;
      }
      counters.entryCount++;
      yield headerRecords({ path: name, type: 'SymbolicLink', stat, size: 0, linkpath: target });
    } else if (stat.isFile()) {
      yield* fileRecords(host, devicePath, name, counters, warn, skip);
    } else {
      warn(`${devicePath} is a socket, FIFO or device node; not in this backup`);
    }
  }
  yield Buffer.alloc(2 * BLOCK);
}

function* fileRecords(
  host: string,
  devicePath: string,
  name: string,
  counters: Counters,
  warn: (m: string) => void,
  skip: (devicePath: string, error: unknown, what: string) => void,
): Generator<Buffer> {
  let fd: number;
  try {
    // O_NOFOLLOW: a file swapped for a symlink since the lstat is not followed out of the root
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    skip(devicePath, error, 'open');
    return;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      warn(`${devicePath} stopped being a regular file while the backup ran; not in this backup`);
      return;
    }
    counters.entryCount++;
    yield headerRecords({ path: name, type: 'File', stat, size: stat.size });
    let position = 0;
    while (position < stat.size) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, stat.size - position));
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, buffer, 0, buffer.length, position);
      } catch (error) {
        warn(`${devicePath}: read error at byte ${position} (${errno(error)}); the rest is stored as zeros`);
        bytesRead = 0;
      }
      if (bytesRead === 0) {
        warn(`${devicePath} shrank while it was read; padded with zeros to its size when opened`);
        yield* zeros(stat.size - position);
        position = stat.size;
        break;
      }
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      position += bytesRead;
    }
    counters.contentBytes += stat.size;
    const pad = (BLOCK - (stat.size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  } finally {
    closeSync(fd);
  }
}

function* zeros(count: number): Generator<Buffer> {
  for (let left = count; left > 0; left -= CHUNK) yield Buffer.alloc(Math.min(CHUNK, left));
}

/** Joins small records into ~64 KiB pieces: each write into zlib is one thread-pool round trip. */
function* coalesce(records: Iterable<Buffer>, size = 64 * 1024): Generator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for (const record of records) {
    if (record.length >= size) {
      if (length > 0) yield Buffer.concat(parts, length);
      parts = [];
      length = 0;
      yield record;
      continue;
    }
    parts.push(record);
    length += record.length;
    if (length >= size) {
      yield Buffer.concat(parts, length);
      parts = [];
      length = 0;
    }
  }
  if (length > 0) yield Buffer.concat(parts, length);
}

/** Rewrites zlib's 10-byte gzip header to the fixed one (no MTIME, no name, OS unix). */
export function fixedGzipHeader(): Transform {
  let head: Buffer | undefined = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (head === undefined) return callback(null, chunk);
      head = Buffer.concat([head, chunk]);
      if (head.length < GZIP_HEADER.length) return callback();
      if (head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 0x08 || head[3] !== 0) {
        return callback(new Error('zlib wrote an unexpected gzip header (flags set)'));
      }
      const out = Buffer.concat([GZIP_HEADER, head.subarray(GZIP_HEADER.length)]);
      head = undefined;
      callback(null, out);
    },
    flush(callback) {
      callback(null, head && head.length > 0 ? head : undefined);
    },
  });
}

/**
 * The archive of `entries` (device paths under `root`) as a gzip stream. Nothing is read before the
 * consumer pulls; memory stays bounded by the stream buffers whatever the tree's size.
 */
export function createArchiveStream(root: string, entries: readonly string[], options: ArchiveOptions = {}): ArchiveStream {
  const counters: Counters = { entryCount: 0, contentBytes: 0, warnings: [] };
  const warn = (message: string) => {
    counters.warnings.push(message);
    options.onWarning?.(message);
  };
  const explicit = new Set(options.explicit ?? []);
  const source = Readable.from(coalesce(tarRecords(root, entries, explicit, counters, warn)), { objectMode: false, highWaterMark: CHUNK });
  const hash = createHash('sha256');
  let size = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const summary = new Promise<ArchiveSummary>((resolve, reject) => {
    pipelineCallback(source, createGzip({ level: options.gzipLevel ?? 6 }), fixedGzipHeader(), out, (error) => {
      if (error) reject(error);
    });
    let ended = false;
    out.on('end', () => {
      ended = true;
      resolve({ sha256: hash.digest('hex'), size, entryCount: counters.entryCount, contentBytes: counters.contentBytes, warnings: counters.warnings });
    });
    out.on('error', reject);
    // a consumer that gives up (a failed upload destroys the stream) must not leave `summary` pending
    out.on('close', () => {
      if (!ended) reject(new Error('the archive stream was closed before its end'));
    });
  });
  summary.catch(() => {}); // the stream reports the error too; awaiting `summary` is optional
  return Object.assign(out, { summary });
}

/**
 * Writes the archive to `file` (through `file.partial`, renamed only when complete, so a failed run
 * never leaves a half archive under the final name) and returns what was written.
 */
export async function writeArchive(root: string, entries: readonly string[], file: string, options: ArchiveOptions = {}): Promise<ArchiveSummary> {
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.partial`);
  const stream = createArchiveStream(root, entries, options);
  try {
    await pipeline(stream, createWriteStream(partial, { mode: 0o600 }));
    const summary = await stream.summary;
    await rename(partial, file);
    return summary;
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

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
// - gzip through node:zlib at GZIP_LEVEL (3), with a fixed 10-byte header (MTIME 0, no name, XFL 0, OS 3): what
//   `gzip -n` writes;
// - streamed: records and file contents are written into SLAB_COUNT reused 128 KiB slabs that zlib
//   hands back once consumed; a consumer that stops reading stops the reading of files; nothing is
//   buffered whole and nothing is allocated per chunk;
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

const BLOCK = 512;
/**
 * zlib level of every archive; part of ARCHIVE_FORMAT (another level writes other bytes). Chosen by
 * measurement on the bench data set (54 MB tar): level 1 510 ms CPU, 26.12 MB; level 3 510 ms,
 * 26.07 MB; level 6 630 ms, 25.97 MB. Level 3 costs what level 1 costs and writes less.
 */
export const GZIP_LEVEL = 3;
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

export interface ArchiveOptions {
  /** device paths listed literally: vanishing or unreadable is an error for them */
  explicit?: Iterable<string>;
  /** called for each skipped or damaged entry, as it happens */
  onWarning?: (message: string) => void;
  /** zlib level, default GZIP_LEVEL */
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

/**
 * One entry's header record(s): a pax record first when ustar cannot hold a field. With `block` (512
 * bytes, reused by the caller, who copies the result before the next call) the ustar header is
 * encoded into it instead of a new buffer.
 */
export function headerRecords(fields: RecordFields, block?: Buffer): Buffer {
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
  block?.fill(0);
  const needPax = block ? header.encode(block, 0) : header.encode();
  const ustar = block ?? header.block;
  if (!ustar) throw new Error('node-tar did not encode a header');
  if (!needPax) return ustar;
  const pax = new Pax({ ...common, mode: undefined }).encode();
  return Buffer.concat([pax, ustar]);
}

/** Size and number of the reusable input buffers ("slabs") between the tar records and zlib. */
export const SLAB_SIZE = 128 * 1024;
export const SLAB_COUNT = 4;

/**
 * A few fixed buffers the tar records are written (and file contents read) into, each handed to
 * `sink` when full and reused once `sink` says it is done with it. Nothing else is allocated per byte
 * archived: a fresh buffer per chunk made the process hold tens of MB of dead buffers (memory outside
 * the JS heap is reclaimed only by a later garbage collection), growing with the archive's size.
 * At most SLAB_COUNT slabs exist; when all are with the sink, `reserve` says so and the producer waits:
 * that wait is the backpressure from zlib and, behind it, the upload.
 */
export class Slabs {
  private readonly free: Buffer[] = [];
  private current: Buffer | undefined;
  private used = 0;
  private wake: (() => void) | undefined;
  /** slabs handed to the sink and not yet given back */
  inFlight = 0;
  /** a 512-byte block the ustar headers are encoded into before they are copied in */
  readonly header = Buffer.alloc(BLOCK);

  constructor(
    private readonly sink: (chunk: Buffer, done: () => void) => void,
    readonly size = SLAB_SIZE,
    count = SLAB_COUNT,
  ) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafe(size));
  }

  /** Room for `n` bytes (n <= size) in the current slab, handing a fuller one on; false: wait (`available`). */
  reserve(n: number): boolean {
    if (this.current && this.size - this.used >= n) return true;
    if (this.current && this.used > 0) this.submit();
    if (!this.current) {
      const slab = this.free.pop();
      if (!slab) return false;
      this.current = slab;
      this.used = 0;
    }
    return true;
  }

  /** Copies `bytes` in (after a successful `reserve(bytes.length)`). */
  put(bytes: Uint8Array): void {
    this.current!.set(bytes, this.used);
    this.advance(bytes.length);
  }

  /** Writes `n` zero bytes (after a successful `reserve(n)`). */
  zeros(n: number): void {
    this.current!.fill(0, this.used, this.used + n);
    this.advance(n);
  }

  /** The current slab and where its free part starts, to read into (after a successful `reserve`). */
  target(): { buffer: Buffer; offset: number; room: number } {
    return { buffer: this.current!, offset: this.used, room: this.size - this.used };
  }

  /** Counts `n` bytes written into `target()`'s free part; a full slab goes to the sink. */
  advance(n: number): void {
    this.used += n;
    if (this.used >= this.size) this.submit();
  }

  /** Hands the current slab (what is written of it) to the sink. */
  submit(): void {
    const slab = this.current;
    if (!slab || this.used === 0) return;
    const view = slab.subarray(0, this.used);
    this.current = undefined;
    this.used = 0;
    this.inFlight++;
    this.sink(view, () => {
      this.inFlight--;
      this.free.push(slab);
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }

  /** Wakes a producer waiting in `available` (the sink was destroyed: it gives no slab back). */
  abort(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Settles once a slab is free again (or `abort` was called). */
  available(): Promise<void> {
    if (this.free.length > 0 || this.current) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
}

/** Waits for a slab whenever `reserve(n)` says none is free. */
function* room(out: Slabs, n: number): Generator<void> {
  while (!out.reserve(n)) yield;
}

function* putRecord(out: Slabs, bytes: Buffer): Generator<void> {
  if (bytes.length > out.size) {
    // only a pax record could be this long (a path of more than 100 KiB): written in slab-sized pieces
    for (let at = 0; at < bytes.length; at += out.size) yield* putRecord(out, bytes.subarray(at, at + out.size));
    return;
  }
  yield* room(out, bytes.length);
  out.put(bytes);
}

function* putZeros(out: Slabs, count: number): Generator<void> {
  for (let left = count; left > 0; ) {
    const n = Math.min(left, out.size);
    yield* room(out, n);
    out.zeros(n);
    left -= n;
  }
}

// The records are produced with synchronous fs calls: a router's configuration is thousands of tiny
// files, and one libuv round trip per lstat/open/read/close made the archive 15 times slower than
// GNU tar. A read blocks the event loop for at most one slab from the page cache or disk. The
// generator writes into `out` and yields only to wait for a free slab.
function* tarRecords(root: string, entries: readonly string[], explicit: ReadonlySet<string>, counters: Counters, warn: (m: string) => void, out: Slabs): Generator<void> {
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
      yield* putRecord(out, headerRecords({ path: `${name}/`, type: 'Directory', stat, size: 0 }, out.header));
    } else if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = readlinkSync(host);
      } catch (error) {
        skip(devicePath, error, 'read the symlink');
        continue;
      }
      counters.entryCount++;
      yield* putRecord(out, headerRecords({ path: name, type: 'SymbolicLink', stat, size: 0, linkpath: target }, out.header));
    } else if (stat.isFile()) {
      yield* fileRecords(host, devicePath, name, counters, warn, skip, out);
    } else {
      warn(`${devicePath} is a socket, FIFO or device node; not in this backup`);
    }
  }
  yield* putZeros(out, 2 * BLOCK);
}

function* fileRecords(
  host: string,
  devicePath: string,
  name: string,
  counters: Counters,
  warn: (m: string) => void,
  skip: (devicePath: string, error: unknown, what: string) => void,
  out: Slabs,
): Generator<void> {
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
    yield* putRecord(out, headerRecords({ path: name, type: 'File', stat, size: stat.size }, out.header));
    let position = 0;
    while (position < stat.size) {
      yield* room(out, 1);
      const { buffer, offset, room: free } = out.target();
      const wanted = Math.min(free, stat.size - position);
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, buffer, offset, wanted, position);
      } catch (error) {
        warn(`${devicePath}: read error at byte ${position} (${errno(error)}); the rest is stored as zeros`);
        bytesRead = 0;
      }
      if (bytesRead === 0) {
        warn(`${devicePath} shrank while it was read; padded with zeros to its size when opened`);
        yield* putZeros(out, stat.size - position);
        position = stat.size;
        break;
      }
      out.advance(bytesRead);
      position += bytesRead;
    }
    counters.contentBytes += stat.size;
    const pad = (BLOCK - (stat.size % BLOCK)) % BLOCK;
    if (pad > 0) yield* putZeros(out, pad);
  } finally {
    closeSync(fd);
  }
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
 * consumer pulls; memory stays bounded by SLAB_COUNT slabs plus the stream buffers whatever the
 * tree's size, and a consumer that stops reading stops the reading of files.
 */
export function createArchiveStream(root: string, entries: readonly string[], options: ArchiveOptions = {}): ArchiveStream {
  const counters: Counters = { entryCount: 0, contentBytes: 0, warnings: [] };
  const warn = (message: string) => {
    counters.warnings.push(message);
    options.onWarning?.(message);
  };
  const explicit = new Set(options.explicit ?? []);
  const gzip = createGzip({ level: options.gzipLevel ?? GZIP_LEVEL, chunkSize: 64 * 1024 });
  const slabs = new Slabs((chunk, done) => {
    // zlib's write callback comes once it has consumed the chunk: then the slab is free again
    gzip.write(chunk, () => done());
  });
  gzip.once('close', () => slabs.abort());
  const hash = createHash('sha256');
  let size = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  let started = false;
  const produce = async () => {
    const records = tarRecords(root, entries, explicit, counters, warn, slabs);
    try {
      for (;;) {
        if (gzip.destroyed) return;
        const step = records.next();
        if (step.done) break;
        await slabs.available();
      }
      slabs.submit();
      gzip.end();
    } catch (error) {
      gzip.destroy(error as Error);
    } finally {
      records.return(undefined);
    }
  };
  // nothing is read before the consumer asks for the first bytes
  const start = () => {
    if (started) return;
    started = true;
    void produce();
  };
  const read = out._read.bind(out);
  out._read = (n: number) => {
    start();
    read(n);
  };
  const summary = new Promise<ArchiveSummary>((resolve, reject) => {
    pipelineCallback(gzip, fixedGzipHeader(), out, (error) => {
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

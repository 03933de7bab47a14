// Owns writing overlay.tar.gz byte for byte reproducibly: entries sorted by path, ustar headers with
// numeric owners and root names, every mtime = SOURCE_DATE_EPOCH, no atime/ctime/pax noise, and a
// gzip header with no name and mtime 0. Same entries in, same sha256 out, on any machine. Paths are
// written as `./etc/...` so the archive extracts over `/` (OpenWrt FILES=, mkosi ExtraTrees, tar -C /).
import { gzipSync } from 'node:zlib';
import { UserError } from '../core/errors.ts';

export type TarEntry =
  | { kind: 'dir'; path: string; mode: number; uid: number; gid: number }
  | { kind: 'file'; path: string; mode: number; uid: number; gid: number; data: Uint8Array }
  | { kind: 'symlink'; path: string; target: string; uid: number; gid: number };

const BLOCK = 512;

function octal(value: number, width: number): string {
  const text = value.toString(8);
  if (text.length > width - 1) throw new UserError(`tar field overflow (${value})`);
  return text.padStart(width - 1, '0') + '\0';
}

function writeString(buf: Buffer, offset: number, width: number, text: string, what: string): void {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > width) throw new UserError(`tar ${what} too long: ${text}`);
  bytes.copy(buf, offset);
}

/** Splits a path into ustar (prefix, name); throws when it cannot fit. */
function splitPath(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] === '/' && Buffer.byteLength(path.slice(0, i)) <= 155 && Buffer.byteLength(path.slice(i + 1)) <= 100) {
      return [path.slice(0, i), path.slice(i + 1)];
    }
  }
  throw new UserError(`path too long for a ustar archive: ${path}`);
}

function header(entry: TarEntry, mtime: number): Buffer {
  const buf = Buffer.alloc(BLOCK, 0);
  const rel = `.${entry.path}${entry.kind === 'dir' ? '/' : ''}`;
  const [prefix, name] = splitPath(rel);
  writeString(buf, 0, 100, name, 'name');
  const mode = entry.kind === 'symlink' ? 0o777 : entry.mode;
  buf.write(octal(mode & 0o7777, 8), 100, 'ascii');
  buf.write(octal(entry.uid, 8), 108, 'ascii');
  buf.write(octal(entry.gid, 8), 116, 'ascii');
  buf.write(octal(entry.kind === 'file' ? entry.data.length : 0, 12), 124, 'ascii');
  buf.write(octal(mtime, 12), 136, 'ascii');
  buf.write('        ', 148, 'ascii'); // checksum placeholder
  buf.write(entry.kind === 'file' ? '0' : entry.kind === 'dir' ? '5' : '2', 156, 'ascii');
  if (entry.kind === 'symlink') writeString(buf, 157, 100, entry.target, 'link target');
  buf.write('ustar\0', 257, 'ascii');
  buf.write('00', 263, 'ascii');
  writeString(buf, 265, 32, entry.uid === 0 ? 'root' : '', 'uname');
  writeString(buf, 297, 32, entry.gid === 0 ? 'root' : '', 'gname');
  writeString(buf, 345, 155, prefix, 'prefix');
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return buf;
}

/** The uncompressed tar stream of `entries` (sorted here, so the caller's order does not matter). */
export function tarBytes(entries: readonly TarEntry[], mtime: number): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Buffer[] = [];
  for (const entry of sorted) {
    chunks.push(header(entry, mtime));
    if (entry.kind === 'file' && entry.data.length > 0) {
      chunks.push(Buffer.from(entry.data));
      const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK;
      if (pad) chunks.push(Buffer.alloc(pad, 0));
    }
  }
  chunks.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(chunks);
}

/** gzip with a fixed header: no file name, mtime 0, fixed level (Node writes OS=3, unix, everywhere). */
export function deterministicTarGz(entries: readonly TarEntry[], mtime: number): Buffer {
  return gzipSync(tarBytes(entries, mtime), { level: 9 });
}

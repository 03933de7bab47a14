// Test fixtures for the archive, restore and backup tests: temp roots that are
// always removed, a snapshot of a tree (to compare trees and to prove a root was left unchanged), and
// a raw tar.gz writer for hand-made, possibly hostile, archives.
import type { ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header, Pax } from 'tar';

/** A fresh temp directory, removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix = 'sysback-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A device root with a little content (/etc/hostname), and a directory outside it that an escape would hit. */
export async function victim(t: ExecutionContext): Promise<{ root: string; outside: string }> {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  await mkdir(`${root}/etc`);
  await writeFile(`${root}/etc/hostname`, 'old\n');
  await writeFile(`${outside}/shadow`, 'host secret\n');
  return { root, outside };
}

export interface SnapshotEntry {
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256?: string;
  target?: string;
  ino?: number;
}

/**
 * Every path under `dir` (relative, `/`-separated) with type, mode, owner, mtime (whole seconds),
 * content hash and link target. Never follows symlinks. `skip` drops paths (and what is below them).
 */
export async function snapshotTree(dir: string, options: { skip?: readonly string[]; withMtimeOfDirs?: boolean; withIno?: boolean } = {}): Promise<Record<string, SnapshotEntry>> {
  const out: Record<string, SnapshotEntry> = {};
  const walk = async (rel: string) => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      if (options.skip?.some((s) => child === s || child.startsWith(`${s}/`))) continue;
      const host = path.join(dir, child);
      const stat = await lstat(host);
      const type = stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : 'other';
      const entry: SnapshotEntry = {
        type,
        mode: stat.mode & 0o7777,
        uid: stat.uid,
        gid: stat.gid,
        mtime: type === 'directory' && options.withMtimeOfDirs === false ? 0 : Math.floor(stat.mtimeMs / 1000),
        size: type === 'file' ? stat.size : 0,
      };
      if (type === 'file') entry.sha256 = createHash('sha256').update(await readFile(host)).digest('hex');
      if (type === 'symlink') {
        entry.target = await readlink(host);
        entry.mode = 0;
      }
      if (options.withIno) entry.ino = stat.ino;
      out[child] = entry;
      if (type === 'directory') await walk(child);
    }
  };
  await walk('');
  return out;
}

export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  body?: string | Buffer;
  linkpath?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmaj?: number;
  devmin?: number;
}

/** A tar.gz written header by header with node-tar's low-level Header: no sanitizing at all. */
export function rawTarGz(entries: readonly RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const type = e.type ?? 'File';
    // names beyond ustar's 100 bytes travel in a pax extended header, as GNU tar and node-tar write them
    if (Buffer.byteLength(e.path) > 100 || Buffer.byteLength(e.linkpath ?? '') > 100) {
      blocks.push(new Pax({ path: e.path, ...(e.linkpath ? { linkpath: e.linkpath } : {}) }).encode());
    }
    const header = new Header({
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: type === 'File' ? body.length : 0,
      mtime: e.mtime ?? new Date(1_700_000_000_000),
      linkpath: e.linkpath,
      uname: '',
      gname: '',
      devmaj: e.devmaj ?? 0,
      devmin: e.devmin ?? 0,
    });
    header.encode();
    blocks.push(header.block!);
    if (type === 'File' && body.length > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

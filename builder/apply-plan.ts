// Owns writing a plan's overlay: the only step of the overlay build that touches the disk. It lays
// the entries into `<out>/overlay/` (modes, owners when run as root, mtimes = SOURCE_DATE_EPOCH),
// writes the deterministic `<out>/overlay.tar.gz` from the same entries (root-owned whatever the
// caller's uid) and `<out>/plan.json`. The image steps (rootfs, disk) read these outputs.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, lutimesSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.ts';
import { underRoot } from '../core/device-paths.ts';
import { deterministicTarGz, type TarEntry } from './deterministic-tar.ts';
import type { Plan } from './plan.ts';

export interface OverlayOutputs {
  overlayDir: string;
  tarball: string;
  sha256: string;
  planFile: string;
}

function readCopySource(source: string, devicePath: string): Buffer {
  try {
    return readFileSync(source);
  } catch (error) {
    throw new UserError(`cannot read ${source} for ${devicePath}: ${(error as NodeJS.ErrnoException).code ?? error}`, 'run `npm run build` to bundle the app first');
  }
}

/** The tar entries of a plan (file contents loaded). Pure apart from reading `copy` sources. */
export function tarEntriesOf(plan: Plan): TarEntry[] {
  return plan.entries.map((entry): TarEntry => {
    switch (entry.kind) {
      case 'dir':
        return entry;
      case 'symlink':
        return entry;
      case 'file':
        return { kind: 'file', path: entry.path, mode: entry.mode, uid: entry.uid, gid: entry.gid, data: Buffer.from(entry.content, 'utf8') };
      case 'copy':
        return { kind: 'file', path: entry.path, mode: entry.mode, uid: entry.uid, gid: entry.gid, data: readCopySource(entry.source, entry.path) };
    }
  });
}

export function applyPlan(plan: Plan, outDir: string): OverlayOutputs {
  mkdirSync(outDir, { recursive: true });
  const entries = tarEntriesOf(plan);
  const mtime = plan.sourceDateEpoch;
  const asRoot = process.getuid?.() === 0;

  // the tree: built beside the old one, then swapped in, so a failed build leaves no half tree
  const overlayDir = path.join(outDir, 'overlay');
  const partial = `${overlayDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { mode: 0o755 });
  for (const entry of entries) {
    const target = underRoot(partial, entry.path);
    if (entry.kind === 'dir') mkdirSync(target, { recursive: true });
    else if (entry.kind === 'symlink') symlinkSync(entry.target, target);
    else writeFileSync(target, entry.data);
  }
  // modes, owners and times after all writes (a 0500 directory must not block its own children)
  for (const entry of [...entries].reverse()) {
    const target = underRoot(partial, entry.path);
    if (entry.kind === 'symlink') {
      if (asRoot) lchownSync(target, entry.uid, entry.gid);
      lutimesSync(target, mtime, mtime);
      continue;
    }
    if (asRoot) chownSync(target, entry.uid, entry.gid);
    chmodSync(target, entry.mode);
    utimesSync(target, mtime, mtime);
  }
  utimesSync(partial, mtime, mtime);
  rmSync(overlayDir, { recursive: true, force: true });
  renameSync(partial, overlayDir);

  const gz = deterministicTarGz(entries, mtime);
  const tarball = path.join(outDir, 'overlay.tar.gz');
  writeFileSync(`${tarball}.partial`, gz);
  renameSync(`${tarball}.partial`, tarball);
  const planFile = path.join(outDir, 'plan.json');
  writeFileSync(planFile, `${JSON.stringify(plan, null, 2)}\n`);
  return { overlayDir, tarball, sha256: createHash('sha256').update(gz).digest('hex'), planFile };
}

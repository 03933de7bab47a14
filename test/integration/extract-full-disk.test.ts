// Full disk during a restore, on a real 2 MiB tmpfs this test mounts and unmounts itself:
// - not enough space for the archive: NoSpaceError from the free-space check, before any write;
// - the disk fills up while staging (another writer takes the space after the check): NoSpaceError,
//   nothing half-applied, the staging area gone, and the same restore succeeds once space is back;
// - the same two for the one-pass restore of a download (recovery/staged-restore.ts), whose free-space
//   check counts each file before writing it.
import type { ExecutionContext } from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { NoSpaceError } from '../../core/errors.ts';
import { restoreArchive } from '../../recovery/safe-extract.ts';
import { stageArchive } from '../../recovery/staged-restore.ts';
import { createHash } from 'node:crypto';
import { testIf } from '../support/skip.ts';
import { rawTarGz, snapshotTree, tempDir } from '../support/archive-fixtures.ts';

const run = promisify(execFile);
const ALLOWED = ['/etc', '/var/spool/cron'];

/** Why a tmpfs cannot be mounted here (tried once, before the tests are registered), or undefined. */
function tmpfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a tmpfs';
  const probe = mkdtempSync(path.join(os.tmpdir(), 'sysback-tmpfs-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { encoding: 'utf8' });
    if (mounted.status !== 0) return `cannot mount a tmpfs (${(mounted.stderr || mounted.error?.message || '').trim().split('\n')[0]})`;
    spawnSync('umount', [probe]);
    return undefined;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

// decided synchronously: ava wants every test declared before the first await
const noTmpfs = tmpfsUnavailable();
const onTmpfs = testIf(noTmpfs === undefined, noTmpfs ?? '');

/** A fresh 2 MiB tmpfs holding a small device root; unmounted when the test ends. */
async function smallDisk(t: ExecutionContext): Promise<string> {
  const mountpoint = await tempDir(t, 'sysback-tmpfs-');
  await run('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', mountpoint]);
  t.teardown(async () => {
    await run('umount', [mountpoint]);
  });
  await mkdir(`${mountpoint}/etc`);
  await writeFile(`${mountpoint}/etc/hostname`, 'old\n');
  return mountpoint;
}

async function archiveFile(t: ExecutionContext, sizes: number[]): Promise<string> {
  const dir = await tempDir(t);
  const file = `${dir}/SysBackup.tar.gz`;
  await writeFile(file, rawTarGz([{ path: 'etc/hostname', body: 'new\n' }, ...sizes.map((size, i) => ({ path: `etc/blob-${i}`, body: randomBytes(size) }))]));
  return file;
}

onTmpfs('no space for the archive: NoSpaceError before anything is written', async (t) => {
  const root = await smallDisk(t);
  const archive = await archiveFile(t, [3 * 1024 * 1024]);
  const before = await snapshotTree(root);
  const error = await t.throwsAsync(restoreArchive({ root, source: archive, allowed: ALLOWED }), { instanceOf: NoSpaceError });
  t.regex(error.message, /not enough free space to restore: .* needed .* free/);
  t.deepEqual(await snapshotTree(root), before, 'nothing written, not even the staging area');
});

onTmpfs('disk fills up during staging: NoSpaceError, nothing half-applied, and a re-run succeeds', async (t) => {
  const root = await smallDisk(t);
  const archive = await archiveFile(t, [256 * 1024, 256 * 1024]);
  const before = await snapshotTree(root);
  const disk = filler(root);
  const error = await t.throwsAsync(
    restoreArchive({ root, source: archive, allowed: ALLOWED, onProgress: (p) => p.phase === 'stage' && disk.fill() }),
    { instanceOf: NoSpaceError },
  );
  t.true(disk.filled(), 'the filler ran after the free-space check passed');
  t.regex(error.message, /disk filled up while the backup was being unpacked/);
  t.deepEqual(await snapshotTree(root, { skip: ['filler'] }), before, 'nothing half-applied');
  t.false(existsSync(`${root}/var`), 'staging area (and the parents made for it) removed');

  await rm(`${root}/filler`);
  const result = await restoreArchive({ root, source: archive, allowed: ALLOWED });
  t.is(result.applied, 3);
  t.deepEqual(result.plan.changed, ['/etc/hostname']);
});

/** Takes the rest of the disk's space (another writer), once. */
function filler(root: string): { fill: () => void; filled: () => boolean } {
  let done = false;
  return {
    fill() {
      if (done) return;
      done = true;
      const fd = openSync(`${root}/filler`, 'w');
      try {
        for (;;) writeSync(fd, Buffer.alloc(64 * 1024, 1));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        closeSync(fd);
      }
    },
    filled: () => done,
  };
}

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

onTmpfs('one pass: a file that would not fit is refused before it is written, nothing under the root changes', async (t) => {
  const root = await smallDisk(t);
  const archive = await archiveFile(t, [3 * 1024 * 1024]);
  const before = await snapshotTree(root);
  const error = await t.throwsAsync(stageArchive({ root, input: createReadStream(archive), allowed: ALLOWED, expectedSha256: sha256Of(archive) }), { instanceOf: NoSpaceError });
  t.regex(error.message, /not enough free space to restore: .* needed .* free/);
  t.deepEqual(await snapshotTree(root), before, 'nothing written, the staging area gone');
});

onTmpfs('one pass: the manifest\'s size that does not fit is refused before the first write', async (t) => {
  const root = await smallDisk(t);
  const archive = await archiveFile(t, [1024]);
  const before = await snapshotTree(root);
  const error = await t.throwsAsync(stageArchive({ root, input: createReadStream(archive), allowed: ALLOWED, minimumBytes: 4 * 1024 * 1024 }), { instanceOf: NoSpaceError });
  t.regex(error.message, /not enough free space to restore: at least .* needed .* free/);
  t.deepEqual(await snapshotTree(root), before);
});

onTmpfs('one pass: the disk fills up while staging: NoSpaceError, nothing half-applied, and a re-run succeeds', async (t) => {
  const root = await smallDisk(t);
  const archive = await archiveFile(t, [256 * 1024, 256 * 1024]);
  const before = await snapshotTree(root);
  const disk = filler(root);
  const error = await t.throwsAsync(
    stageArchive({ root, input: createReadStream(archive), allowed: ALLOWED, expectedSha256: sha256Of(archive), onProgress: () => disk.fill() }),
    { instanceOf: NoSpaceError },
  );
  t.true(disk.filled(), 'the filler ran after the free-space check passed');
  t.regex(error.message, /disk filled up while the backup was being unpacked/);
  t.deepEqual(await snapshotTree(root, { skip: ['filler'] }), before, 'nothing half-applied');
  t.false(existsSync(`${root}/var`), 'staging area (and the parents made for it) removed');

  await rm(`${root}/filler`);
  const staged = await stageArchive({ root, input: createReadStream(archive), allowed: ALLOWED, expectedSha256: sha256Of(archive) });
  const result = await staged.apply();
  t.is(result.applied, 3);
  t.deepEqual(result.plan.changed, ['/etc/hostname']);
});

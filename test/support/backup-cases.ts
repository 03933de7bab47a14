// The backup cases of issue 3 (Tests) for one transport, run inside a simulated router configured by
// the real "new" flow on the real shared grid: the fixture tree (modes, owners, symlinks, a 50 MB file,
// root's crontab) backed up, fetched back through the router's private node and extracted with GNU
// tar equals the router's tree; an unchanged system uploads nothing; `--list` prints the expanded
// entries and writes nothing; `status --json` reports the last good backup and the generations; a
// stale lock from a dead PID does not block while a live one does; retention 2 keeps exactly two
// generations with SysBackup.tar.gz the newest. test/integration/backup-<transport>.test.ts register
// them; one router per transport serves every case, serially.
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT } from '../../core/errors.ts';
import { listBackupEntries } from '../../backup/files-list.ts';
import {
  configuredRouter,
  fetchLatest,
  fixtureSnapshot,
  generations,
  gnuTarExtract,
  haveGnuTar,
  latestCap,
  manifest,
  privateApi,
  readLock,
  removeDir,
  stackLines,
} from './backup-router.ts';
import { touchFixture } from './fixture-tree.ts';
import type { SimulatedRouter } from './router.ts';
import { sharedGrid, type TestGrid } from './shared-grid.ts';
import { skipReason, testIf } from './skip.ts';
import { isRoot } from './target.ts';

interface BackupJson {
  status: 'uploaded' | 'unchanged';
  generation?: string;
  latest: { time: string; sha256: string; size: number; generation?: string };
  pruned: string[];
  transport: string;
}

async function backup(r: SimulatedRouter, args: string[] = []): Promise<BackupJson> {
  const result = await r.sysback(['backup', '--json', ...args]);
  if (result.exitCode !== 0) throw new Error(`sysback backup exited ${result.exitCode}: ${result.stderr.slice(-2000)}`);
  return JSON.parse(result.stdout) as BackupJson;
}

export type CaseName = 'round trip' | 'unchanged' | 'list' | 'status' | 'locks' | 'retention';
export const ALL_CASES: readonly CaseName[] = ['round trip', 'unchanged', 'list', 'status', 'locks', 'retention'];

/**
 * Registers the backup cases for one transport: one router (retention 2) on the shared grid serves
 * them all, in order. `cases` picks which; `failing` registers them with test.failing (a transport
 * known not to work yet stays visible), `skipReason` skips them visibly.
 */
export function registerBackupCases(KIND: 'mount' | 'webapi', options: { cases?: readonly CaseName[]; failing?: boolean; skipReason?: string } = {}): void {
  const cases = new Set(options.cases ?? ALL_CASES);
  let g: TestGrid | undefined;
  let router: SimulatedRouter | undefined;
  const reason = skipReason(
    [!isRoot(), `backup tests over ${KIND} need root (chroot, overlayfs, Tahoe from the target root filesystem)`],
    [options.skipReason !== undefined, options.skipReason ?? ''],
  );
  const active = reason === undefined;

  test.before(async () => {
    if (!active) return;
    g = await sharedGrid();
    router = await configuredRouter(`bk-${KIND}`, g.grid, { transport: KIND, retention: 2 });
  });

  test.after.always(async () => {
    await router?.destroy();
    await g?.release();
  });

  const registered = testIf(active, reason ?? '');
  const serial = options.failing ? registered.serial.failing : registered.serial;
  // the round trip also needs GNU tar on the host, known before anything runs
  const roundTrip = active && !haveGnuTar() ? testIf(false, 'GNU tar is not installed on this host (apt-get install tar)').serial : serial;

  if (cases.has('round trip')) roundTrip(`${KIND}: the fixture tree backed up, fetched from the grid and extracted with GNU tar equals the router's tree`, async (t) => {
    const r = router!;
    await touchFixture(r.root, 'round-trip');
    const result = await backup(r);
    t.is(result.status, 'uploaded');
    t.is(result.transport, KIND);
    t.truthy(result.generation);
    const expected = await fixtureSnapshot(r.root);
    t.true(Object.keys(expected).length > 20, 'the fixture is there');
    t.is(expected['home/user/big.bin']?.size, 50 * 1024 * 1024);
    t.is(expected['var/spool/cron/crontabs/root']?.mode, 0o600);

    const { file, dir } = await fetchLatest(r);
    try {
      const bytes = readFileSync(file);
      t.is(createHash('sha256').update(bytes).digest('hex'), result.latest.sha256, 'SysBackup.tar.gz is what the run reported');
      t.is(bytes.length, result.latest.size);
      const dest = path.join(dir, 'extracted');
      const { stderr } = await gnuTarExtract(file, dest);
      t.is(stderr, '', 'GNU tar has nothing to complain about');
      t.deepEqual(await fixtureSnapshot(dest), expected);
    } finally {
      await removeDir(dir);
    }
  });

  if (cases.has('unchanged')) serial(`${KIND}: a second backup with no change uploads nothing`, async (t) => {
    const r = router!;
    const before = await generations(r);
    const latestBefore = await latestCap(r);
    t.true(before.length >= 1);
    const result = await backup(r);
    t.is(result.status, 'unchanged');
    t.is(result.generation, undefined);
    const after = await generations(r);
    t.deepEqual(after.map((e) => [e.name, e.cap]), before.map((e) => [e.name, e.cap]), 'archives/ holds the same generations');
    t.is(await latestCap(r), latestBefore, 'SysBackup.tar.gz still points at the same archive');
    t.is((await manifest(r))?.generations.length, before.length);
  });

  if (cases.has('list')) serial(`${KIND}: backup --list prints the expanded entries and writes nothing`, async (t) => {
    const r = router!;
    const state = r.read('/var/lib/sysback/state.json');
    const latest = await latestCap(r);
    const manifestBefore = await manifest(r);
    const result = await r.sysback(['backup', '--list']);
    t.is(result.exitCode, 0, result.stderr);
    const printed = result.stdout.split('\n').filter(Boolean);
    const expected = await listBackupEntries(r.root, r.read('/etc/sysback/files.txt'));
    t.deepEqual(printed, expected.entries);
    for (const p of ['/etc/fixture/localtime', '/home/user/big.bin', '/var/spool/cron/crontabs/root', '/root/.ssh/authorized_keys']) t.true(printed.includes(p), p);
    t.false(printed.some((p) => p.startsWith('/usr/')), 'nothing outside files.txt');
    t.is(r.read('/var/lib/sysback/state.json'), state, 'the state is untouched');
    t.is(readLock(r), undefined, 'no lock left');
    t.is(await latestCap(r), latest);
    t.deepEqual(await manifest(r), manifestBefore, 'the private area is untouched');
  });

  if (cases.has('status')) serial(`${KIND}: status --json has lastGoodBackup {time, sha256, size} and generations.count`, async (t) => {
    const r = router!;
    const result = await r.sysback(['status', '--json']);
    t.is(result.exitCode, 0, result.stderr);
    const status = JSON.parse(result.stdout);
    const m = await manifest(r);
    t.true(status.configured);
    t.regex(status.lastGoodBackup.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.is(status.lastGoodBackup.sha256, m!.generations[0]!.sha256);
    t.is(status.lastGoodBackup.size, m!.generations[0]!.size);
    t.is(status.generations.count, m!.generations.length);
    t.is(status.generations.count, (await generations(r)).length);
    t.true(status.grid.reachable);
    t.true(status.grid.serversConnected >= status.grid.happy);
    t.false(status.stale);
  });

  if (cases.has('locks')) serial(`${KIND}: a stale lock left by a dead PID does not block the next backup`, async (t) => {
    const r = router!;
    // a PID that is certainly not running: above pid_max is impossible, so take one that /proc lacks
    let dead = 4_000_000;
    while (existsSync(`/proc/${dead}`)) dead++;
    writeFileSync(r.path('/var/lib/sysback/backup.lock'), JSON.stringify({ pid: dead, started: '2026-01-01T00:00:00.000Z' }) + '\n', { mode: 0o600 });
    await touchFixture(r.root, 'after-stale-lock');
    const result = await r.sysback(['backup', '--json']);
    t.is(result.exitCode, 0, result.stderr);
    t.is(JSON.parse(result.stdout).status, 'uploaded');
    t.regex(result.stderr, new RegExp(`stale backup lock left by pid ${dead}`));
    t.is(readLock(r), undefined, 'the lock is released after the run');
  });

  if (cases.has('locks')) serial(`${KIND}: a lock held by a running sysback process refuses a second backup (exit ${EXIT.locked}) and is left alone`, async (t) => {
    const r = router!;
    // this test process is node, alive, so the lock looks held by a running backup
    const body = JSON.stringify({ pid: process.pid, started: new Date().toISOString() }) + '\n';
    writeFileSync(r.path('/var/lib/sysback/backup.lock'), body, { mode: 0o600 });
    try {
      await touchFixture(r.root, 'while-locked');
      const latest = await latestCap(r);
      const result = await r.sysback(['backup']);
      t.is(result.exitCode, EXIT.locked, result.stderr);
      t.regex(result.stderr, /another backup is running/);
      t.deepEqual(stackLines(result.stderr), []);
      t.is(readLock(r), body, 'the holder keeps its lock');
      t.is(await latestCap(r), latest, 'nothing was written');
    } finally {
      rmSync(r.path('/var/lib/sysback/backup.lock'), { force: true });
    }
  });

  if (cases.has('retention')) serial(`${KIND}: with retention 2, three changed backups keep exactly 2 generations and SysBackup.tar.gz is the newest`, async (t) => {
    const r = router!;
    const made: string[] = [];
    for (let i = 1; i <= 3; i++) {
      await touchFixture(r.root, `retention-${i}`);
      const result = await backup(r);
      t.is(result.status, 'uploaded');
      made.push(result.generation!);
    }
    t.is(new Set(made).size, 3, 'three distinct generations were made');
    const kept = await generations(r);
    t.deepEqual(kept.map((e) => e.name).sort(), made.slice(1).sort(), 'archives/ holds the newest two');
    const m = await manifest(r);
    t.deepEqual(m!.generations.map((g) => g.name), [made[2], made[1]], 'the manifest lists the newest two, newest first');
    const newest = kept.find((e) => e.name === made[2])!;
    t.is(await latestCap(r), newest.readCap, 'SysBackup.tar.gz is the newest generation');
    const digest = await privateApi(r).digest((await latestCap(r))!);
    t.is(digest.sha256, m!.generations[0]!.sha256);
  });
}

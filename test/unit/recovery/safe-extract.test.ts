import test, { type ExecutionContext } from 'ava';
import { chmod, chown, lstat, mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { existsSync, rmSync, symlinkSync } from 'node:fs';
import { Readable } from 'node:stream';
import { writeArchive } from '../../../backup/archive.ts';
import { listBackupEntries } from '../../../backup/files-list.ts';
import { CorruptError, UnsafeArchiveError, UserError } from '../../../core/errors.ts';
import { describePlan, reviewPlan } from '../../../recovery/restore-plan.ts';
import { restoreArchive } from '../../../recovery/safe-extract.ts';
import { type RawEntry, rawTarGz, snapshotTree, tempDir, victim } from '../../support/archive-fixtures.ts';

const ALLOWED = ['/etc', '/var/spool/cron'];
const MTIME = 1_700_000_000;


async function writeFixture(t: ExecutionContext, entries: RawEntry[]): Promise<string> {
  const dir = await tempDir(t);
  const file = `${dir}/fixture.tar.gz`;
  await writeFile(file, rawTarGz(entries));
  return file;
}

/** Runs the fixture against a fresh root; asserts the error names the entry and nothing changed. */
async function assertRefused(t: ExecutionContext, entries: (outside: string) => RawEntry[], entry: string | ((outside: string) => string), reason: RegExp) {
  const { root, outside } = await victim(t);
  const before = await snapshotTree(root);
  const outsideBefore = await snapshotTree(outside);
  const file = await writeFixture(t, [{ path: 'etc/hostname', body: 'new\n' }, ...entries(outside)]);
  const error = await t.throwsAsync(restoreArchive({ root, source: file, allowed: ALLOWED }), { instanceOf: UnsafeArchiveError });
  t.is(error.entry, typeof entry === 'string' ? entry : entry(outside));
  t.regex(error.message, reason);
  t.deepEqual(await snapshotTree(root), before, 'the root is unchanged');
  t.deepEqual(await snapshotTree(outside), outsideBefore, 'nothing outside the root changed');
}

test('dot-dot-escape: a path with .. is refused, nothing written', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/../../pwned', body: 'x' }], 'etc/../../pwned', /contains "\.\."/);
});

test('absolute-path: an absolute member name is refused, nothing written', async (t) => {
  await assertRefused(t, () => [{ path: '/etc/cron.d/pwned', body: '* * * * * root sh' }], '/etc/cron.d/pwned', /absolute path/);
});

test('symlink-escape-absolute: an absolute symlink target using .. is refused', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/evil', type: 'SymbolicLink', linkpath: '/../../../../etc/shadow' }], 'etc/evil', /uses "\.\." to escape/);
});

test('symlink-escape-relative: a relative symlink target climbing above the root is refused', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/evil', type: 'SymbolicLink', linkpath: '../../../../etc/shadow' }], 'etc/evil', /escapes the root/);
});

test('hardlink-escape: a hard link to a file outside the root is refused (relative and absolute)', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/evil', type: 'Link', linkpath: '../../etc/shadow' }], 'etc/evil', /hard link target .* escapes the root/);
  await assertRefused(t, (outside) => [{ path: 'etc/evil', type: 'Link', linkpath: `${outside}/shadow` }], 'etc/evil', /escapes the root/);
});

test('device-node: a character device is refused', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/console', type: 'CharacterDevice', devmaj: 5, devmin: 1 }], 'etc/console', /device nodes are never restored/);
});

test('fifo: a FIFO is refused', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/pipe', type: 'FIFO' }], 'etc/pipe', /FIFOs are never restored/);
});

test('unlisted-path: an entry outside the backed-up list is refused', async (t) => {
  await assertRefused(t, () => [{ path: 'usr/bin/sysback', body: '#!/bin/sh\nrm -rf /\n', mode: 0o755 }], 'usr/bin/sysback', /not in the backed-up list/);
});

test('symlink-then-file-through-it: a file below a symlink of the same archive is refused', async (t) => {
  await assertRefused(
    t,
    (outside) => [
      { path: 'etc/link', type: 'SymbolicLink', linkpath: outside },
      { path: 'etc/link/shadow', body: 'overwritten\n' },
    ],
    'etc/link/shadow',
    /below \/etc\/link, which the archive makes a symlink/,
  );
});

test('symlink-parent-on-system: an entry whose parent is a symlink on the target system is refused', async (t) => {
  const { root, outside } = await victim(t);
  await symlink(outside, `${root}/etc/ssh`);
  const before = await snapshotTree(root);
  const file = await writeFixture(t, [{ path: 'etc/ssh/shadow', body: 'overwritten\n' }]);
  const error = await t.throwsAsync(restoreArchive({ root, source: file, allowed: ALLOWED }), { instanceOf: UnsafeArchiveError });
  t.is(error.entry, 'etc/ssh/shadow');
  t.regex(error.message, /\/etc\/ssh is a symlink on this system/);
  t.deepEqual(await snapshotTree(root), before);
  t.is(await readFile(`${outside}/shadow`, 'utf8'), 'host secret\n');
});

test('duplicate-entry: the same path twice is refused', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/hostname', type: 'SymbolicLink', linkpath: '/etc/shadow' }], 'etc/hostname', /appears twice/);
});

test('truncated-archive: a damaged archive is a CorruptError and changes nothing', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const whole = rawTarGz([{ path: 'etc/hostname', body: 'n'.repeat(100_000) }]);
  const dir = await tempDir(t);
  await writeFile(`${dir}/cut.tar.gz`, whole.subarray(0, Math.floor(whole.length / 2)));
  await t.throwsAsync(restoreArchive({ root, source: `${dir}/cut.tar.gz`, allowed: ALLOWED }), { instanceOf: CorruptError });
  t.deepEqual(await snapshotTree(root), before);
});

test('archive-changed-between-reads: a source that changes after the plan is a CorruptError, nothing applied', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  const reads = [rawTarGz([{ path: 'etc/hostname', body: 'new\n' }]), rawTarGz([{ path: 'etc/hostname', body: 'NEW\n' }])];
  let call = 0;
  const source = () => Readable.from([reads[Math.min(call++, 1)]!]);
  await t.throwsAsync(restoreArchive({ root, source, allowed: ALLOWED }), { instanceOf: CorruptError, message: /changed while it was being restored/ });
  t.deepEqual(await snapshotTree(root), before);
  t.false(existsSync(`${root}/var/lib/sysback/staging`));
});

/** The snapshot without the mtimes of `paths` (parents the archive does not hold, made by the restore). */
function withoutMtime(snap: Awaited<ReturnType<typeof snapshotTree>>, paths: readonly string[] = ['var', 'var/spool']) {
  return Object.fromEntries(Object.entries(snap).map(([p, e]) => [p, paths.includes(p) ? { ...e, mtime: 0 } : e]));
}

/** A device tree backed up with the real archive writer. */
async function backedUp(t: ExecutionContext) {
  const device = await tempDir(t);
  await mkdir(`${device}/etc/ssh`, { recursive: true });
  await mkdir(`${device}/var/spool/cron/crontabs`, { recursive: true });
  await writeFile(`${device}/etc/hostname`, 'router-1\n');
  await writeFile(`${device}/etc/ssh/sshd_config`, 'PermitRootLogin no\n');
  await writeFile(`${device}/var/spool/cron/crontabs/root`, '0 */240 * * * sysback backup\n', { mode: 0o600 });
  await chown(`${device}/etc/ssh/sshd_config`, 1000, 1000);
  await chmod(`${device}/var/spool/cron/crontabs`, 0o1730);
  await symlink('/usr/share/zoneinfo/UTC', `${device}/etc/localtime`);
  for (const p of ['etc/hostname', 'etc/ssh/sshd_config', 'var/spool/cron/crontabs/root', 'etc/ssh', 'etc', 'var/spool/cron/crontabs', 'var/spool/cron']) {
    await utimes(`${device}/${p}`, MTIME, MTIME);
  }
  const list = await listBackupEntries(device, '/etc\n/var/spool/cron\n');
  const dir = await tempDir(t);
  await writeArchive(device, list.entries, `${dir}/SysBackup.tar.gz`);
  return { device, archive: `${dir}/SysBackup.tar.gz` };
}

test('a real backup restores into an empty root with contents, modes, owners, mtimes and links', async (t) => {
  const { device, archive } = await backedUp(t);
  const root = await tempDir(t);
  const result = await restoreArchive({ root, source: archive, allowed: ALLOWED });
  t.is(result.applied, 8);
  t.deepEqual(withoutMtime(await snapshotTree(root)), withoutMtime(await snapshotTree(device)));
  t.false(existsSync(`${root}/var/lib`), 'the staging area and the parents made for it are gone');
});

test('dry run lists added, changed and unchanged entries and writes nothing', async (t) => {
  const { archive } = await backedUp(t);
  const root = await tempDir(t);
  await restoreArchive({ root, source: archive, allowed: ALLOWED });
  await writeFile(`${root}/etc/hostname`, 'changed\n');
  await rm(`${root}/etc/localtime`);
  await chmod(`${root}/etc/ssh/sshd_config`, 0o600);
  await utimes(`${root}/etc/ssh/sshd_config`, MTIME, MTIME);
  await utimes(`${root}/etc`, MTIME, MTIME);
  await writeFile(`${root}/var/spool/cron/crontabs/root`, '', { flag: 'w' });
  const before = await snapshotTree(root);
  const result = await restoreArchive({ root, source: archive, allowed: ALLOWED, dryRun: true });
  t.true(result.dryRun);
  t.is(result.applied, 0);
  t.deepEqual(result.plan.added, ['/etc/localtime']);
  t.deepEqual(result.plan.changed, ['/etc/hostname', '/etc/ssh/sshd_config', '/var/spool/cron/crontabs/root']);
  const byPath = Object.fromEntries(result.plan.entries.map((e) => [e.path, e]));
  t.deepEqual(byPath['/etc/hostname']!.changes, ['content', 'mtime']);
  t.deepEqual(byPath['/etc/ssh/sshd_config']!.changes, ['mode']);
  t.deepEqual(result.plan.unchanged, ['/etc', '/etc/ssh', '/var/spool/cron', '/var/spool/cron/crontabs']);
  t.deepEqual(await snapshotTree(root), before, 'a dry run writes nothing');
  t.true(describePlan(result.plan).includes('change  /etc/hostname (content, mtime)'));
});

test('restoring over a system replaces changed files atomically and leaves the rest alone', async (t) => {
  const { device, archive } = await backedUp(t);
  const root = await tempDir(t);
  await restoreArchive({ root, source: archive, allowed: ALLOWED });
  await writeFile(`${root}/etc/hostname`, 'changed\n');
  await writeFile(`${root}/etc/not-in-backup`, 'keep me\n');
  const inoUnchanged = (await lstat(`${root}/etc/ssh/sshd_config`)).ino;
  const inoChanged = (await lstat(`${root}/etc/hostname`)).ino;
  const result = await restoreArchive({ root, source: archive, allowed: ALLOWED });
  t.deepEqual(result.plan.changed, ['/etc', '/etc/hostname'], '/etc: its mtime moved when not-in-backup was made');
  t.is(await readFile(`${root}/etc/hostname`, 'utf8'), 'router-1\n');
  t.not((await lstat(`${root}/etc/hostname`)).ino, inoChanged, 'replaced by rename, not rewritten in place');
  t.is((await lstat(`${root}/etc/ssh/sshd_config`)).ino, inoUnchanged, 'unchanged files are not touched');
  t.is(await readFile(`${root}/etc/not-in-backup`, 'utf8'), 'keep me\n');
  const snap = await snapshotTree(root, { skip: ['etc/not-in-backup', 'var/lib'] });
  const want = await snapshotTree(device);
  t.deepEqual(withoutMtime(snap, ['var', 'var/spool', 'etc']), withoutMtime(want, ['var', 'var/spool', 'etc']));
});

test('a second restore of the same archive changes nothing', async (t) => {
  const { archive } = await backedUp(t);
  const root = await tempDir(t);
  await restoreArchive({ root, source: archive, allowed: ALLOWED });
  const before = await snapshotTree(root);
  const again = await restoreArchive({ root, source: archive, allowed: ALLOWED });
  t.is(again.applied, 0);
  t.is(again.plan.unchanged.length, again.plan.entries.length);
  t.deepEqual(await snapshotTree(root), before);
});

test('an interrupted restore (stale staging, half applied) can simply be run again', async (t) => {
  const { device, archive } = await backedUp(t);
  const root = await tempDir(t);
  await mkdir(`${root}/var/lib/sysback/staging/etc`, { recursive: true });
  await writeFile(`${root}/var/lib/sysback/staging/etc/hostname`, 'half-written');
  await mkdir(`${root}/etc`);
  await writeFile(`${root}/etc/hostname`, 'router-1\n'); // already moved by the interrupted run
  await restoreArchive({ root, source: archive, allowed: ALLOWED });
  t.deepEqual(withoutMtime(await snapshotTree(root, { skip: ['var/lib'] })), withoutMtime(await snapshotTree(device)));
  t.false(existsSync(`${root}/var/lib/sysback/staging`));
});

test('a directory on the system is never replaced by a file from the archive', async (t) => {
  const { archive } = await backedUp(t);
  const root = await tempDir(t);
  await mkdir(`${root}/etc/hostname`, { recursive: true });
  const before = await snapshotTree(root);
  await t.throwsAsync(restoreArchive({ root, source: archive, allowed: ALLOWED }), { instanceOf: UserError, message: /is a directory on this system/ });
  t.deepEqual(await snapshotTree(root), before);
});

test('hard links inside the archive are restored as hard links', async (t) => {
  const file = await writeFixture(t, [
    { path: 'etc/', type: 'Directory' },
    { path: 'etc/a', body: 'same inode\n' },
    { path: 'etc/b', type: 'Link', linkpath: 'etc/a' },
  ]);
  const root = await tempDir(t);
  await restoreArchive({ root, source: file, allowed: ALLOWED });
  t.is((await lstat(`${root}/etc/a`)).ino, (await lstat(`${root}/etc/b`)).ino);
  t.is(await readFile(`${root}/etc/b`, 'utf8'), 'same inode\n');
  const again = await restoreArchive({ root, source: file, allowed: ALLOWED });
  t.is(again.applied, 0);
});

test('setuid bits survive the owner change', async (t) => {
  const file = await writeFixture(t, [{ path: 'etc/tool', body: 'x', mode: 0o4755, uid: 1000, gid: 1000 }]);
  const root = await tempDir(t);
  await restoreArchive({ root, source: file, allowed: ALLOWED });
  const stat = await lstat(`${root}/etc/tool`);
  t.is(stat.mode & 0o7777, 0o4755);
  t.is(stat.uid, 1000);
});

test('symlink-planted-during-restore: the move-time check refuses a parent turned into a symlink after the plan', async (t) => {
  const { root, outside } = await victim(t);
  await mkdir(`${root}/etc/ssh`);
  const file = await writeFixture(t, [
    { path: 'etc/hostname', body: 'new\n' },
    { path: 'etc/ssh/sshd_config', body: 'PermitRootLogin yes\n' },
  ]);
  const before = await snapshotTree(root, { skip: ['etc/ssh'] });
  let planted = false;
  // another process swaps the directory for a symlink while staging runs (synchronously, so it is
  // certainly done before the move phase)
  const plant = () => {
    if (planted) return;
    planted = true;
    rmSync(`${root}/etc/ssh`, { recursive: true });
    symlinkSync(outside, `${root}/etc/ssh`);
  };
  const error = await t.throwsAsync(
    restoreArchive({ root, source: file, allowed: ALLOWED, onProgress: (p) => p.phase === 'stage' && plant() }),
    { instanceOf: UnsafeArchiveError },
  );
  t.true(planted);
  t.is(error.entry, 'etc/ssh/sshd_config');
  // /etc's own mtime moved when the test planted the symlink; everything else is as before
  t.deepEqual(withoutMtime(await snapshotTree(root, { skip: ['etc/ssh'] }), ['etc']), withoutMtime(before, ['etc']), 'nothing moved into place');
  t.deepEqual(Object.keys(await snapshotTree(outside)), ['shadow']);
  t.is(await readFile(`${outside}/shadow`, 'utf8'), 'host secret\n');
  t.false(existsSync(`${root}/var/lib/sysback/staging`));
});

test('a symlink on the system replaced by a directory from the archive: children land in the new directory', async (t) => {
  const { root, outside } = await victim(t);
  await symlink(outside, `${root}/etc/ssh`);
  const file = await writeFixture(t, [
    { path: 'etc/ssh/', type: 'Directory', mode: 0o755 },
    { path: 'etc/ssh/sshd_config', body: 'x\n' },
  ]);
  const result = await restoreArchive({ root, source: file, allowed: ALLOWED });
  t.deepEqual(result.plan.changed, ['/etc/ssh']);
  t.deepEqual(result.plan.added, ['/etc/ssh/sshd_config']);
  t.true((await lstat(`${root}/etc/ssh`)).isDirectory());
  t.is(await readFile(`${root}/etc/ssh/sshd_config`, 'utf8'), 'x\n');
  t.deepEqual(Object.keys(await snapshotTree(outside)), ['shadow']);
});

test('with a runner, the staged data and the root are flushed with sync -f', async (t) => {
  const { createRunner } = await import('../../../core/runner.ts');
  const { createMemoryLog } = await import('../../../core/log.ts');
  const { archive } = await backedUp(t);
  const root = await tempDir(t);
  const log = createMemoryLog();
  await restoreArchive({ root, source: archive, allowed: ALLOWED, runner: createRunner(log) });
  const syncs = log.lines.filter((l) => l.includes('$ sync -f'));
  t.deepEqual(syncs.map((l) => l.replace(/.*\$ /, '')), [`sync -f ${root}/var/lib/sysback/staging`, `sync -f ${root}`]);
});

test('name-over-name-max: a 256-byte path component is refused before writing, exit 15 not 70', async (t) => {
  const long = 'n'.repeat(256);
  await assertRefused(t, () => [{ path: `etc/${long}`, body: 'x' }], `etc/${long}`.slice(0, 120), /256 bytes, over the file system's limit of 255/);
  const { root } = await victim(t);
  const file = await writeFixture(t, [{ path: `etc/${long}`, body: 'x' }]);
  const error = await t.throwsAsync(restoreArchive({ root, source: file, allowed: ALLOWED }));
  t.is((error as UnsafeArchiveError).exitCode, 15);
});

test('path-over-path-max: a path of 4096 bytes (each component short) is refused before writing', async (t) => {
  const deep = Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/');
  await assertRefused(t, () => [{ path: `etc/${deep}`, body: 'x' }], `etc/${deep}`.slice(0, 120), /over the file system's limit of 4095/);
});

test('path-over-path-max-in-staging: a path that fits the root but not the deeper staging area is refused before writing', async (t) => {
  const { root } = await victim(t);
  const before = await snapshotTree(root);
  // the host path of the target fits PATH_MAX; the same path below <root>/var/lib/sysback/staging
  // (24 bytes deeper) does not
  const deviceLength = 4095 - Buffer.byteLength(root) - 5;
  const parts: string[] = [];
  let used = '/etc'.length;
  while (used + 251 < deviceLength) {
    parts.push('p'.repeat(250));
    used += 251;
  }
  parts.push('q'.repeat(deviceLength - used - 1));
  const name = `etc/${parts.join('/')}`;
  t.is(Buffer.byteLength(root) + 1 + name.length, 4090);
  const file = await writeFixture(t, [{ path: name, body: 'x' }]);
  const error = await t.throwsAsync(restoreArchive({ root, source: file, allowed: ALLOWED }), { instanceOf: UnsafeArchiveError });
  t.regex(error.message, /path in the staging area/);
  t.deepEqual(await snapshotTree(root), before, 'the root is unchanged');
});

test('symlink-target-over-path-max: refused before writing', async (t) => {
  await assertRefused(t, () => [{ path: 'etc/link', type: 'SymbolicLink', linkpath: 'a/'.repeat(2100) }], 'etc/link', /symlink target is 4200 bytes/);
});

test('planted-answers: a backup holding /etc/sysback/answers.json (old backups did) restores, and skips it', async (t) => {
  const { root } = await victim(t);
  const file = await writeFixture(t, [
    { path: 'etc/hostname', body: 'new\n' },
    { path: 'etc/sysback/', type: 'Directory' },
    { path: 'etc/sysback/answers.json', body: '{"mode":"recover","password":"stolen-password-here"}' },
    { path: 'etc/sysback/sysback.json', body: '{}' },
  ]);
  const result = await restoreArchive({ root, source: file, allowed: ALLOWED });
  t.deepEqual(result.plan.skipped, ['/etc/sysback/answers.json']);
  t.false(existsSync(`${root}/etc/sysback/answers.json`));
  t.true(existsSync(`${root}/etc/sysback/sysback.json`));
  t.true(describePlan(result.plan).some((line) => line.startsWith('skip    /etc/sysback/answers.json')));
});

test('hostile-allowed-list: a manifest pattern that is no valid glob is a CorruptError, not a SyntaxError', async (t) => {
  const { root } = await victim(t);
  const file = await writeFixture(t, [{ path: 'etc/hostname', body: 'new\n' }]);
  await t.throwsAsync(restoreArchive({ root, source: file, allowed: ['/etc/[z-a]'] }), { instanceOf: CorruptError });
});

test('thief-wrote-the-backup: paths beyond the image\'s own list and setuid files are shown; declined, only the list is restored', async (t) => {
  const { root } = await victim(t);
  const file = await writeFixture(t, [
    { path: 'etc/hostname', body: 'new\n' },
    { path: 'root/.ssh/', type: 'Directory' },
    { path: 'root/.ssh/authorized_keys', body: 'ssh-ed25519 AAAA thief\n' },
    { path: 'etc/cron.d/', type: 'Directory' },
    { path: 'etc/cron.d/x', body: '* * * * * root sh /tmp/x\n' },
    { path: 'usr/local/bin/', type: 'Directory' },
    { path: 'usr/local/bin/helper', body: '#!/bin/sh\n', mode: 0o4755 },
  ]);
  // the manifest, which the thief wrote, allows everything
  const dry = await restoreArchive({ root, source: file, allowed: ['/'], dryRun: true });
  const image = ['/etc/hostname', '/etc/cron.d', '/var/spool/cron'];
  const review = reviewPlan(dry.plan, image);
  t.deepEqual(review.beyondList, ['/root/.ssh', '/root/.ssh/authorized_keys', '/usr/local/bin', '/usr/local/bin/helper']);
  t.deepEqual(review.setid, [{ path: '/usr/local/bin/helper', mode: '4755' }]);
  // the person says no: restore with the image's own list, skipping what lies beyond it
  const result = await restoreArchive({ root, source: file, allowed: image, skipUnlisted: true });
  t.is(await readFile(`${root}/etc/hostname`, 'utf8'), 'new\n');
  t.false(existsSync(`${root}/root/.ssh/authorized_keys`));
  t.false(existsSync(`${root}/usr/local/bin/helper`));
  t.true(result.plan.skipped.includes('/root/.ssh/authorized_keys'));
  // without skipUnlisted the same list refuses the archive whole, nothing written
  const again = await victim(t);
  await t.throwsAsync(restoreArchive({ root: again.root, source: file, allowed: image }), { instanceOf: UnsafeArchiveError });
});

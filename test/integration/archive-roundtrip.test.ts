// Backs up a realistic fixture tree (modes, owners, symlinks, a 50 MB file, root's crontab 0600),
// then restores the archive two ways, GNU tar and sysback's safe extractor, and compares the trees:
// content, type, mode, owner, mtime and link targets.
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, open, symlink, utimes, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { writeArchive } from '../../backup/archive.ts';
import { listBackupEntries } from '../../backup/files-list.ts';
import { restoreArchive } from '../../recovery/safe-extract.ts';
import { haveGnuTar } from '../support/backup-router.ts';
import { testUnless } from '../support/skip.ts';
import { isRoot } from '../support/target.ts';
import { snapshotTree, tempDir } from '../support/archive-fixtures.ts';

const run = promisify(execFile);
const MTIME = 1_700_000_000;
const FILES_TXT = '# router configuration\n/etc\n/home/user\n/root/.ssh\n';

// the fixture tree holds files owned by other users (chown), and some tests run GNU tar
const NEEDS_ROOT: [boolean, string] = [!isRoot(), 'needs root (the fixture tree has files owned by other users)'];
const asRoot = testUnless(NEEDS_ROOT);
const withGnuTar = testUnless(NEEDS_ROOT, [!haveGnuTar(), 'GNU tar is not installed (apt-get install tar)']);

async function fixtureDevice(t: ExecutionContext): Promise<string> {
  const root = await tempDir(t, 'sysback-device-');
  const dirs = ['etc/ssh', 'etc/sysback', 'etc/network', 'home/user/.config', 'root/.ssh', 'var/spool/cron/crontabs', 'usr/share'];
  for (const d of dirs) await mkdir(`${root}/${d}`, { recursive: true });
  await writeFile(`${root}/etc/hostname`, 'router-1\n');
  await writeFile(`${root}/etc/sysback/files.txt`, FILES_TXT);
  await writeFile(`${root}/etc/ssh/ssh_host_ed25519_key`, 'PRIVATE KEY\n', { mode: 0o600 });
  await writeFile(`${root}/etc/network/interfaces`, 'auto lo\niface lo inet loopback\n');
  await writeFile(`${root}/etc/empty`, '');
  await writeFile(`${root}/home/user/.config/settings.json`, '{"a":1}\n');
  await writeFile(`${root}/root/.ssh/authorized_keys`, 'ssh-ed25519 AAAA test\n', { mode: 0o600 });
  await writeFile(`${root}/var/spool/cron/crontabs/root`, '0 */240 * * * /usr/bin/sysback backup\n', { mode: 0o600 });
  await writeFile(`${root}/usr/share/not-listed`, 'x');
  await symlink('/usr/share/zoneinfo/Europe/Madrid', `${root}/etc/localtime`);
  await symlink('../network/interfaces', `${root}/etc/ssh/relative-link`);
  await symlink('/does/not/exist', `${root}/etc/dangling`);
  // a 50 MB file of incompressible data, owned by uid 1000
  const big = await open(`${root}/home/user/big.bin`, 'w');
  for (let i = 0; i < 50; i++) await big.write(randomBytes(1024 * 1024));
  await big.close();
  await chown(`${root}/home/user`, 1000, 1000);
  await chown(`${root}/home/user/big.bin`, 1000, 1000);
  await chown(`${root}/home/user/.config`, 1000, 1000);
  await chown(`${root}/home/user/.config/settings.json`, 1000, 1000);
  await chown(`${root}/etc/localtime`, 0, 0);
  await chown(`${root}/var/spool/cron/crontabs`, 0, 101);
  await chmod(`${root}/var/spool/cron/crontabs`, 0o1730);
  await chmod(`${root}/etc/sysback`, 0o2750);
  await chmod(`${root}/root/.ssh`, 0o700);
  await chmod(`${root}/home/user/.config/settings.json`, 0o640);
  // fixed mtimes, deepest first so parents keep theirs
  const snap = await snapshotTree(root);
  for (const p of Object.keys(snap).sort().reverse()) {
    if (snap[p]!.type !== 'symlink') await utimes(`${root}/${p}`, MTIME + p.length, MTIME + p.length);
  }
  return root;
}

/** Directories the archive does not hold (made by the extraction): their mtimes are not compared. */
const NOT_IN_ARCHIVE = ['home', 'root', 'var', 'var/spool'];

function comparable(snap: Awaited<ReturnType<typeof snapshotTree>>) {
  return Object.fromEntries(Object.entries(snap).map(([p, e]) => [p, NOT_IN_ARCHIVE.includes(p) ? { ...e, mtime: 0, mode: 0, gid: 0, uid: 0 } : e]));
}

async function backUp(t: ExecutionContext) {
  const device = await fixtureDevice(t);
  const list = await listBackupEntries(device, FILES_TXT);
  const out = await tempDir(t, 'sysback-out-');
  const archive = `${out}/SysBackup.tar.gz`;
  const summary = await writeArchive(device, list.entries, archive, { explicit: list.explicit });
  const expected = await snapshotTree(device, { skip: ['usr'] });
  return { device, list, archive, summary, expected };
}

withGnuTar('a backup extracted with GNU tar (tar -xzpf --numeric-owner) equals the device tree', async (t) => {
  const { archive, summary, expected, list } = await backUp(t);
  t.deepEqual(list.warnings, ['/var/spool/cron was not in files.txt; it is always backed up, so it was added']);
  t.deepEqual(summary.warnings, []);
  t.log(`archive: ${summary.entryCount} entries, ${(summary.contentBytes / 1e6).toFixed(1)} MB of content, ${(summary.size / 1e6).toFixed(1)} MB compressed`);
  const dest = await tempDir(t, 'sysback-gnutar-');
  const { stderr } = await run('tar', ['-xzpf', archive, '--numeric-owner', '-C', dest]);
  t.is(stderr, '', 'GNU tar has nothing to complain about');
  t.deepEqual(comparable(await snapshotTree(dest)), comparable(expected));
  const { stdout } = await run('tar', ['-tzf', archive]);
  t.true(stdout.split('\n').includes('var/spool/cron/crontabs/root'));
  t.false(stdout.split('\n').some((line) => line.startsWith('/')), 'no absolute member names');
});

asRoot('the same backup restored with the safe extractor equals the device tree', async (t) => {
  const { archive, expected, list } = await backUp(t);
  const dest = await tempDir(t, 'sysback-restore-');
  const result = await restoreArchive({ root: dest, source: archive, allowed: list.patterns.map((p) => p.pattern) });
  t.is(result.applied, result.plan.entries.length);
  t.deepEqual(comparable(await snapshotTree(dest)), comparable(expected));
  t.false(existsSync(`${dest}/var/lib`), 'no staging area left behind');
  const again = await restoreArchive({ root: dest, source: archive, allowed: list.patterns.map((p) => p.pattern), dryRun: true });
  t.is(again.plan.unchanged.length, again.plan.entries.length, 'a second restore would change nothing');
});

asRoot('an unchanged device gives a byte-identical archive', async (t) => {
  const { device, list, archive, summary } = await backUp(t);
  const again = await writeArchive(device, list.entries, `${archive}.again`, { explicit: list.explicit });
  t.is(again.sha256, summary.sha256);
});

withGnuTar('an archive made by hand with GNU tar (tar czf) restores with the safe extractor', async (t) => {
  const device = await fixtureDevice(t);
  const out = await tempDir(t, 'sysback-out-');
  await run('tar', ['czf', `${out}/by-hand.tar.gz`, '--numeric-owner', '-C', device, 'etc', 'home/user', 'root/.ssh', 'var/spool/cron']);
  const dest = await tempDir(t, 'sysback-restore-');
  const result = await restoreArchive({ root: dest, source: `${out}/by-hand.tar.gz`, allowed: ['/etc', '/home/user', '/root/.ssh', '/var/spool/cron'] });
  t.true(result.applied > 0);
  t.deepEqual(comparable(await snapshotTree(dest)), comparable(await snapshotTree(device, { skip: ['usr'] })));
});

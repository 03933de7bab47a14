import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { writeArchive } from '../../../backup/archive.ts';
import { backupPatterns, listBackupEntries, neverBackedUp, parseFilesList, withCronSpool } from '../../../backup/files-list.ts';
import { ConfigError } from '../../../core/errors.ts';
import { tempDir } from '../../support/archive-fixtures.ts';

test('parseFilesList skips comments and blank lines and normalizes paths', (t) => {
  const patterns = parseFilesList('# what to save\n\n/etc/hostname\n  /etc/ssh/  \n/etc//*.conf\n   # indented comment\n');
  t.deepEqual(patterns, [
    { line: 3, pattern: '/etc/hostname', glob: false },
    { line: 4, pattern: '/etc/ssh', glob: false },
    { line: 5, pattern: '/etc/*.conf', glob: true },
  ]);
});

test('parseFilesList reports every bad line with its number', (t) => {
  const error = t.throws(() => parseFilesList('/etc/ok\netc/relative\n/etc/../shadow\n'), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.path), ['line 2', 'line 3']);
  t.regex(error.message, /not an absolute path/);
  t.regex(error.message, /contains "\.\."/);
});

test('/var/spool/cron is added when the list forgets it, and only then', (t) => {
  const forgot = withCronSpool(parseFilesList('/etc/hostname\n'));
  t.true(forgot.added);
  t.deepEqual(forgot.patterns.at(-1), { line: 0, pattern: '/var/spool/cron', glob: false });
  for (const covering of ['/var/spool/cron', '/var/spool/cron/', '/var', '/var/**', '/var/spool/cr*']) {
    t.false(withCronSpool(parseFilesList(`${covering}\n`)).added, covering);
  }
  t.deepEqual(backupPatterns('/etc/hostname\n'), ['/etc/hostname', '/var/spool/cron']);
});

async function fixtureRoot(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const root = await tempDir(t);
  await mkdir(`${root}/etc/ssh`, { recursive: true });
  await mkdir(`${root}/etc/wireguard/peers`, { recursive: true });
  await mkdir(`${root}/var/spool/cron/crontabs`, { recursive: true });
  await mkdir(`${root}/var/lib/sysback/staging/etc`, { recursive: true });
  await mkdir(`${root}/root/.ssh`, { recursive: true });
  await writeFile(`${root}/etc/hostname`, 'r1\n');
  await writeFile(`${root}/etc/resolv.conf`, 'x');
  await writeFile(`${root}/etc/ssh/sshd_config`, 'x');
  await writeFile(`${root}/etc/ssh/ssh_host_ed25519_key`, 'x');
  await writeFile(`${root}/etc/wireguard/wg0.conf`, 'x');
  await writeFile(`${root}/etc/wireguard/peers/a.conf`, 'x');
  await writeFile(`${root}/root/.ssh/authorized_keys`, 'x');
  await writeFile(`${root}/var/spool/cron/crontabs/root`, 'x');
  await writeFile(`${root}/var/lib/sysback/staging/etc/leftover`, 'x');
  await writeFile(`${root}/var/lib/sysback/state.json`, '{}');
  return root;
}

test('listBackupEntries expands globs and directories, sorted, parents first', async (t) => {
  const root = await fixtureRoot(t);
  const list = await listBackupEntries(root, '/etc/hostname\n/etc/ssh/ssh_host_*\n/etc/wireguard\n/root/*\n');
  t.deepEqual(list.entries, [
    '/etc/hostname',
    '/etc/ssh/ssh_host_ed25519_key',
    '/etc/wireguard',
    '/etc/wireguard/peers',
    '/etc/wireguard/peers/a.conf',
    '/etc/wireguard/wg0.conf',
    '/root/.ssh',
    '/root/.ssh/authorized_keys',
    '/var/spool/cron',
    '/var/spool/cron/crontabs',
    '/var/spool/cron/crontabs/root',
  ]);
  t.deepEqual(list.explicit, ['/etc/hostname', '/etc/wireguard', '/var/spool/cron']);
  t.true(list.warnings.some((w) => /\/var\/spool\/cron was not in files\.txt/.test(w)));
});

test('listBackupEntries with ** finds files at any depth', async (t) => {
  const root = await fixtureRoot(t);
  const list = await listBackupEntries(root, '/etc/**/*.conf\n/var/spool/cron\n');
  t.deepEqual(list.entries.filter((p) => p.startsWith('/etc')), ['/etc/resolv.conf', '/etc/wireguard/peers/a.conf', '/etc/wireguard/wg0.conf']);
  t.deepEqual(list.warnings, []);
});

test('listBackupEntries reports lines that match nothing', async (t) => {
  const root = await fixtureRoot(t);
  const list = await listBackupEntries(root, '/etc/hostname\n/etc/nope\n/opt/*.conf\n/var/spool/cron\n');
  t.deepEqual(list.warnings, [
    '/etc/nope (line 2) matches nothing under the root; nothing saved for it',
    '/opt/*.conf (line 3) matches nothing under the root; nothing saved for it',
  ]);
});

test('listBackupEntries never lists the restore staging area, nor the state', async (t) => {
  const root = await fixtureRoot(t);
  const list = await listBackupEntries(root, '/var/lib/sysback\n');
  t.deepEqual(list.entries.filter((p) => p.startsWith('/var/lib')), ['/var/lib/sysback']);
});

test('symlinks are listed as symlinks and never followed, not even out of the root', async (t) => {
  const root = await fixtureRoot(t);
  const outside = await tempDir(t);
  await writeFile(`${outside}/secret`, 'host file');
  await symlink(outside, `${root}/etc/escape`);
  await symlink('/usr/share/zoneinfo/UTC', `${root}/etc/localtime`);
  const list = await listBackupEntries(root, '/etc/escape\n/etc/escape/*\n/etc/localtime\n/var/spool/cron\n');
  t.true(list.entries.includes('/etc/escape'));
  t.false(list.entries.some((p) => p.startsWith('/etc/escape/')));
  t.true(list.entries.includes('/etc/localtime'));
  t.true(list.warnings.some((w) => /goes through the symlink \/etc\/escape/.test(w)));
});

test('a listed path through a symlinked directory is skipped with a warning', async (t) => {
  const root = await fixtureRoot(t);
  await symlink('etc', `${root}/etc2`);
  const list = await listBackupEntries(root, '/etc2/hostname\n/var/spool/cron\n');
  t.false(list.entries.includes('/etc2/hostname'));
  t.true(list.warnings.some((w) => /goes through the symlink \/etc2/.test(w)));
});

test('FIFOs inside a listed directory are skipped with a warning', async (t) => {
  const root = await fixtureRoot(t);
  execFileSync('mkfifo', [`${root}/etc/ssh/control.fifo`]);
  const list = await listBackupEntries(root, '/etc/ssh\n/var/spool/cron\n');
  t.false(list.entries.includes('/etc/ssh/control.fifo'));
  t.true(list.warnings.some((w) => /control\.fifo is a socket, FIFO or device node/.test(w)));
});

test('loadBackupList reads files.txt under ctx.root and logs every warning', async (t) => {
  const { createContext } = await import('../../../core/context.ts');
  const { createMemoryLog } = await import('../../../core/log.ts');
  const { loadBackupList } = await import('../../../backup/files-list.ts');
  const root = await fixtureRoot(t);
  await mkdir(`${root}/etc/sysback`, { recursive: true });
  await writeFile(`${root}/etc/sysback/files.txt`, '/etc/hostname\n/etc/missing\n');
  const log = createMemoryLog();
  const list = await loadBackupList(createContext({ root, log }));
  t.true(list.entries.includes('/etc/hostname'));
  t.true(list.entries.includes('/var/spool/cron/crontabs/root'));
  t.deepEqual(log.lines.filter((l) => l.startsWith('warn: ')).length, 2);
});

test('loadBackupList without files.txt is a UserError with a hint', async (t) => {
  const { createContext } = await import('../../../core/context.ts');
  const { createMemoryLog } = await import('../../../core/log.ts');
  const { loadBackupList } = await import('../../../backup/files-list.ts');
  const { UserError } = await import('../../../core/errors.ts');
  const root = await tempDir(t);
  await t.throwsAsync(loadBackupList(createContext({ root, log: createMemoryLog() })), { instanceOf: UserError, message: /cannot read \/etc\/sysback\/files\.txt/ });
});

test('an invalid glob in files.txt is refused at parse time with its line number (not a SyntaxError from cron every hour)', (t) => {
  const error = t.throws(() => parseFilesList('/etc/hostname\n# fine\n/etc/[z-a]\n/etc/ok[\n/etc/trailing\\\n'), { instanceOf: ConfigError });
  t.deepEqual(error.problems.map((p) => p.path), ['line 3', 'line 4', 'line 5']);
  t.regex(error.problems[0]!.message, /range "z-a" runs backwards/);
  t.regex(error.problems[1]!.message, /never closed/);
  t.regex(error.problems[2]!.message, /escapes nothing/);
});

async function secretsRoot(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const root = await tempDir(t);
  await mkdir(`${root}/etc/sysback`, { recursive: true });
  await mkdir(`${root}/var/lib/sysback/tahoe/private/private`, { recursive: true });
  await mkdir(`${root}/var/lib/sysback/restore`, { recursive: true });
  await mkdir(`${root}/var/spool/cron/crontabs`, { recursive: true });
  await mkdir(`${root}/root`, { recursive: true });
  await writeFile(`${root}/etc/sysback/sysback.json`, '{}');
  await writeFile(`${root}/etc/sysback/files.txt`, '/etc\n');
  await writeFile(`${root}/etc/sysback/answers.json`, '{"mode":"new","alias":"a","password":"hunter2-hunter2"}');
  await writeFile(`${root}/etc/sysback/password.txt`, 'hunter2-hunter2\n');
  await writeFile(`${root}/etc/sysback/.answers.json.0a1b2c.tmp`, '{}');
  await writeFile(`${root}/var/lib/sysback/backup.lock`, '{}');
  await writeFile(`${root}/var/lib/sysback/backup.lock.break-0011223344556677`, '{}');
  await writeFile(`${root}/var/lib/sysback/state.json`, '{}');
  await writeFile(`${root}/var/lib/sysback/recovery-card.txt`, 'card');
  await writeFile(`${root}/var/lib/sysback/tahoe/private/private/aliases`, 'sysback-private: URI:DIR2:aaaa:bbbb\n');
  await writeFile(`${root}/var/lib/sysback/restore/SysBackup-x.tar.gz`, 'x');
  await writeFile(`${root}/root/pw`, 'hunter2-hunter2\n');
  await writeFile(`${root}/var/spool/cron/crontabs/root`, '0 * * * * sysback backup --if-due\n');
  return root;
}

test('secrets and sysback state are never backed up, whatever files.txt says (even "/")', async (t) => {
  const root = await secretsRoot(t);
  const list = await listBackupEntries(root, '/\n', { exclude: ['/root/pw'] });
  for (const secret of [
    '/etc/sysback/answers.json',
    '/etc/sysback/password.txt',
    '/etc/sysback/.answers.json.0a1b2c.tmp',
    '/var/lib/sysback/backup.lock',
    '/var/lib/sysback/backup.lock.break-0011223344556677',
    '/var/lib/sysback/state.json',
    '/var/lib/sysback/tahoe',
    '/var/lib/sysback/tahoe/private/private/aliases',
    '/var/lib/sysback/restore/SysBackup-x.tar.gz',
    '/root/pw',
  ]) {
    t.false(list.entries.includes(secret), secret);
  }
  t.true(list.entries.includes('/etc/sysback/sysback.json'));
  t.true(list.entries.includes('/etc/sysback/files.txt'));
  t.true(list.entries.includes('/var/lib/sysback/recovery-card.txt'));
  t.true(list.warnings.some((w) => w.startsWith('/etc/sysback/answers.json holds a secret')));
  t.true(neverBackedUp('/etc/sysback/answers.json'));
  t.false(neverBackedUp('/etc/sysback/sysback.json'));
});

test('an archive made from the default list holds no password the answers gave (grep of the archive bytes)', async (t) => {
  const root = await secretsRoot(t);
  const list = await listBackupEntries(root, '/etc/sysback\n/etc\n/root\n/var/lib/sysback\n', { exclude: ['/root/pw'] });
  const file = path.join(await tempDir(t), 'SysBackup.tar.gz');
  await writeArchive(root, list.entries, file, { explicit: list.explicit });
  const plain = gunzipSync(readFileSync(file));
  t.true(plain.includes(Buffer.from('sysback backup --if-due')), 'the archive is readable: the crontab is in it');
  t.false(plain.includes(Buffer.from('hunter2-hunter2')), 'the password is in no archive');
  t.false(plain.includes(Buffer.from('URI:DIR2:')), 'no write cap of a node directory is in the archive');
});

test('a pathological ** pattern expands without revisiting the tree (would be exponential otherwise)', async (t) => {
  const root = await tempDir(t);
  let dir = `${root}/d`;
  for (let i = 0; i < 12; i++) dir += `/d${i}`;
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}/x.conf`, 'x');
  const pattern = `/d/${'**/'.repeat(12)}*.conf\n/var/spool/cron\n`;
  const list = await listBackupEntries(root, pattern);
  t.true(list.entries.some((e) => e.endsWith('/x.conf')));
});

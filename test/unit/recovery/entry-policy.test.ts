import test from 'ava';
import { UnsafeArchiveError } from '../../../core/errors.ts';
import { checkArchiveEntry, checkArchiveTree, checkSymlinkTarget, devicePathOfName, entryPolicy } from '../../../recovery/entry-policy.ts';

const policy = entryPolicy(['/etc', '/var/spool/cron', '/root/.ssh/*']);

test('names become device paths; ./ prefixes and trailing slashes are fine', (t) => {
  t.is(devicePathOfName('etc/hostname'), '/etc/hostname');
  t.is(devicePathOfName('./etc/ssh/'), '/etc/ssh');
});

for (const [name, reason] of [
  ['/etc/passwd', /absolute path/],
  ['etc/../../outside', /contains "\.\."/],
  ['..', /contains "\.\."/],
  ['./', /names the root itself/],
] as const) {
  test(`the name ${JSON.stringify(name)} is refused`, (t) => {
    const error = t.throws(() => devicePathOfName(name), { instanceOf: UnsafeArchiveError });
    t.is(error.entry, name);
    t.regex(error.message, reason);
  });
}

test('entries outside the allowed list are refused, entries below allowed globs accepted', (t) => {
  t.is(checkArchiveEntry({ path: 'root/.ssh/authorized_keys', type: 'File', size: 3 }, policy).path, '/root/.ssh/authorized_keys');
  const error = t.throws(() => checkArchiveEntry({ path: 'root/.bashrc', type: 'File' }, policy), { instanceOf: UnsafeArchiveError });
  t.regex(error.message, /not in the backed-up list/);
});

test('the staging area is never a valid target, even when allowed', (t) => {
  const wide = entryPolicy(['/var/lib/sysback']);
  t.throws(() => checkArchiveEntry({ path: 'var/lib/sysback/staging/etc/x', type: 'File' }, wide), { instanceOf: UnsafeArchiveError, message: /staging area/ });
});

test('device nodes, FIFOs and unknown types are refused', (t) => {
  for (const type of ['CharacterDevice', 'BlockDevice', 'FIFO', 'GNUDumpDir', 'SparseFile']) {
    t.throws(() => checkArchiveEntry({ path: 'etc/x', type }, policy), { instanceOf: UnsafeArchiveError }, type);
  }
});

test('header fields are normalized: mode bits, whole-second mtime', (t) => {
  const entry = checkArchiveEntry({ path: 'etc/x', type: 'File', size: 5, mode: 0o104755, uid: 1000, gid: 1000, mtime: new Date(1_700_000_000_900) }, policy);
  t.like(entry, { type: 'file', size: 5, mode: 0o4755, uid: 1000, gid: 1000, mtime: 1_700_000_000 });
});

test('symlink targets: relative ones may not climb above the root, absolute ones may not use ..', (t) => {
  t.is(checkSymlinkTarget('etc/localtime', '/etc/localtime', '/usr/share/zoneinfo/UTC'), '/usr/share/zoneinfo/UTC');
  t.is(checkSymlinkTarget('etc/a/b', '/etc/a/b', '../../usr/x'), '../../usr/x');
  t.throws(() => checkSymlinkTarget('etc/a/b', '/etc/a/b', '../../../x'), { instanceOf: UnsafeArchiveError, message: /escapes the root/ });
  t.throws(() => checkSymlinkTarget('etc/a', '/etc/a', '/../../etc/shadow'), { instanceOf: UnsafeArchiveError, message: /uses "\.\."/ });
  t.throws(() => checkSymlinkTarget('etc/a', '/etc/a', ''), { instanceOf: UnsafeArchiveError });
});

test('hard links must name a file of the archive inside the root', (t) => {
  t.throws(() => checkArchiveEntry({ path: 'etc/x', type: 'Link', linkpath: '/etc/shadow' }, policy), { instanceOf: UnsafeArchiveError, message: /escapes the root/ });
  t.throws(() => checkArchiveEntry({ path: 'etc/x', type: 'Link', linkpath: '../etc/shadow' }, policy), { instanceOf: UnsafeArchiveError, message: /escapes the root/ });
  t.throws(() => checkArchiveEntry({ path: 'etc/x', type: 'Link', linkpath: 'usr/bin/su' }, policy), { instanceOf: UnsafeArchiveError, message: /not in the backed-up list/ });
  const a = checkArchiveEntry({ path: 'etc/a', type: 'File' }, policy);
  const b = checkArchiveEntry({ path: 'etc/b', type: 'Link', linkpath: 'etc/a' }, policy);
  t.notThrows(() => checkArchiveTree([a, b]));
  t.throws(() => checkArchiveTree([b, a]), { instanceOf: UnsafeArchiveError, message: /not a regular file earlier/ });
});

test('checkArchiveTree refuses duplicates and entries below a non-directory', (t) => {
  const dir = checkArchiveEntry({ path: 'etc/d/', type: 'Directory' }, policy);
  const link = checkArchiveEntry({ path: 'etc/d', type: 'SymbolicLink', linkpath: '/tmp' }, policy);
  const inside = checkArchiveEntry({ path: 'etc/d/f', type: 'File' }, policy);
  t.throws(() => checkArchiveTree([dir, link]), { instanceOf: UnsafeArchiveError, message: /appears twice/ });
  t.throws(() => checkArchiveTree([link, inside]), { instanceOf: UnsafeArchiveError, message: /which the archive makes a symlink/ });
  t.throws(() => checkArchiveTree([inside, link]), { instanceOf: UnsafeArchiveError, message: /which the archive makes a symlink/ });
  t.notThrows(() => checkArchiveTree([dir, inside]));
});

// The rsync adapter's pure parts: its argv, progress parsing, and recognising rsync's temp names
// (which Tahoe links as empty placeholders when a copy is interrupted).
import test from 'ava';
import { isRsyncTemp, parseRsyncProgress, rsyncArgv } from '../../../grid/rsync.ts';

test('rsync runs in its own process group, whole files, parents made; times only where they are cheap', (t) => {
  // into the area: no --times (setting one is another write of the mutable directory)
  t.deepEqual(rsyncArgv('/var/lib/sysback/SysBackup.tar.gz', './archives/x.tar.gz', { times: false }), [
    'setsid', 'rsync', '--ignore-times', '--whole-file', '--mkpath', '--info=progress2', '--outbuf=L', '/var/lib/sysback/SysBackup.tar.gz', './archives/x.tar.gz',
  ]);
  // a name that does not exist yet is written in place: no temp file for Tahoe to upload, then rename
  t.deepEqual(rsyncArgv('/var/lib/sysback/SysBackup.tar.gz', './archives/x.tar.gz', { times: false, inplace: true }), [
    'setsid', 'rsync', '--inplace', '--ignore-times', '--whole-file', '--mkpath', '--info=progress2', '--outbuf=L', '/var/lib/sysback/SysBackup.tar.gz', './archives/x.tar.gz',
  ]);
  t.deepEqual(rsyncArgv('./archives/x.tar.gz', '/var/lib/sysback/restore/x.tar.gz', { times: true }), [
    'setsid', 'rsync', '--times', '--ignore-times', '--whole-file', '--mkpath', '--info=progress2', '--outbuf=L', './archives/x.tar.gz', '/var/lib/sysback/restore/x.tar.gz',
  ]);
});

test('rsync --info=progress2 output gives the last cumulative byte count', (t) => {
  const out = '\r      1,048,576   2%    1.00MB/s    0:00:40\r     52,428,800 100%   10.00MB/s    0:00:05 (xfr#1, to-chk=0/1)\n';
  t.is(parseRsyncProgress(out), 52_428_800);
  t.is(parseRsyncProgress('sending incremental file list\n'), undefined);
});

test('rsync temp names are .BASE.XXXXXX, and nothing else is taken for one', (t) => {
  t.true(isRsyncTemp('.SysBackup.tar.gz.l8msJi', 'SysBackup.tar.gz'));
  t.false(isRsyncTemp('SysBackup.tar.gz', 'SysBackup.tar.gz'));
  t.false(isRsyncTemp('.SysBackup.tar.gz.l8msJi.old', 'SysBackup.tar.gz'));
  t.false(isRsyncTemp('.other.tar.gz.l8msJi', 'SysBackup.tar.gz'));
});

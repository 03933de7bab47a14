// The mount transport's pure parts: rsync progress parsing, recognising rsync's temp names (which
// Tahoe links as empty placeholders when a copy is interrupted), and the cleanup guard that runs on
// success, on failure and when a signal arrives while mounted.
import test from 'ava';
import { isRsyncTemp, parseRsyncProgress, withCleanup } from '../../../grid/mount-transport.ts';

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

test('cleanup runs once after success and after failure, and its handlers are gone afterwards', async (t) => {
  const before = process.listenerCount('SIGTERM');
  let runs = 0;
  t.is(await withCleanup(async () => void runs++, async () => 42), 42);
  await t.throwsAsync(withCleanup(async () => void runs++, async () => Promise.reject(new Error('boom'))), { message: 'boom' });
  t.is(runs, 2);
  t.is(process.listenerCount('SIGTERM'), before);
});

test('a signal while mounted runs the cleanup at once, only once, and is raised again afterwards', async (t) => {
  // another listener stands in for the program's own handler, so the raised signal ends nothing here
  let seen = 0;
  const other = () => void seen++;
  process.on('SIGHUP', other);
  t.teardown(() => process.off('SIGHUP', other));
  let runs = 0;
  await withCleanup(async () => void runs++, async () => {
    process.emit('SIGHUP', 'SIGHUP');
    await new Promise((r) => setImmediate(r));
    t.is(runs, 1, 'cleaned up while the work was still running');
  });
  t.is(runs, 1);
  // the real SIGHUP raised again after the cleanup reaches the other listener
  for (let i = 0; i < 100 && seen < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.true(seen >= 2, 'the signal reached the other listener again');
  t.is(process.listenerCount('SIGHUP'), 1, 'only the other listener is left');
});

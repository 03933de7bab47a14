import test from 'ava';
import { backupAge, backupDue, isStale, redatedGoodBackup, type GoodBackup } from '../../../core/state.ts';

const last: GoodBackup = { time: '2026-11-20T00:00:00Z', sha256: 'a'.repeat(64), size: 1, capDigest: 'b'.repeat(64) };
const INTERVAL = 240;

const table: Array<{ title: string; now: string; last?: GoodBackup; due: boolean; stale: boolean; says?: RegExp }> = [
  { title: 'no backup yet', now: '2026-11-20T00:00:00Z', due: true, stale: true, says: /no good backup yet/ },
  { title: 'fresh backup, right clock', now: '2026-11-21T00:00:00Z', last, due: false, stale: false },
  { title: 'one interval old', now: '2026-11-30T00:00:00Z', last, due: true, stale: false },
  { title: 'older than twice the interval', now: '2026-12-11T00:00:00Z', last, due: true, stale: true, says: /days old/ },
  { title: 'clock ahead when the backup was recorded, since corrected (negative age)', now: '2026-11-01T00:00:00Z', last, due: true, stale: true, says: /age is unknown.*check the clock/ },
  { title: 'clock behind now (stuck at the epoch)', now: '1970-01-01T00:00:00Z', last, due: true, stale: true, says: /later than this router's clock/ },
  { title: 'clock behind when the backup was recorded (looks ancient)', now: '2026-11-21T00:00:00Z', last: { ...last, time: '1970-01-01T00:00:00Z' }, due: true, stale: true, says: /days old/ },
  { title: 'within a minute of slack', now: '2026-11-19T23:59:30Z', last, due: false, stale: false },
];

for (const row of table) {
  test(`clock table: ${row.title}: due ${row.due}, stale ${row.stale}`, (t) => {
    const now = new Date(row.now);
    t.is(backupDue(row.last, INTERVAL, now).yes, row.due);
    const stale = isStale(row.last, INTERVAL, now);
    t.is(stale.yes, row.stale);
    if (row.says) t.regex(stale.reason, row.says);
  });
}

test('backupAge is unknown ("future"), never negative, when the record is after now', (t) => {
  t.like(backupAge(last, new Date('2026-11-19T00:00:00Z')), { kind: 'future', aheadHours: 24 });
  t.deepEqual(backupAge(undefined, new Date()), { kind: 'none' });
});

test('an unchanged run re-dates a backup recorded in the future, so a fixed clock stops making every run due', (t) => {
  const now = new Date('2026-11-01T00:00:00.123Z');
  const redated = redatedGoodBackup(last, now);
  t.is(redated?.time, '2026-11-01T00:00:00Z');
  t.is(redated?.sha256, last.sha256);
  t.false(backupDue(redated, INTERVAL, now).yes);
  t.is(redatedGoodBackup(last, new Date('2026-11-21T00:00:00Z')), undefined, 'a backup in the past is left as it is');
});

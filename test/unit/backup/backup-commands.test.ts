// `sysback backup --if-due`'s decision (the hourly cron line): due when there is no good backup
// yet, or the last good one is at least one interval old, by the context's clock.
import test from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { backupDue } from '../../../backup/backup-due.ts';
import { deviceConfigFromGrid } from '../../../core/config/device-config.ts';
import { createContext } from '../../../core/context.ts';
import { DEVICE } from '../../../core/device-paths.ts';
import { configuredState, digestCap, writeState } from '../../../core/state.ts';
import { writeFileAtomic } from '../../../core/atomic-write.ts';
import { tcpGrid } from '../../support/grid-fixture.ts';

const LAST = '2026-11-20T10:00:00Z';
const HOUR = 3_600_000;

async function router(t: import('ava').ExecutionContext, intervalHours: number, lastGood: string | undefined, now: Date) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'sysback-due-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const ctx = createContext({ root, clock: { now: () => now } });
  const config = deviceConfigFromGrid(tcpGrid, { backup: { intervalHours, retention: 5 } });
  await mkdir(path.dirname(ctx.path(DEVICE.config)), { recursive: true });
  await writeFileAtomic(ctx.path(DEVICE.config), JSON.stringify(config), { mode: 0o600 });
  await writeState(ctx, configuredState({
    mode: 'new',
    alias: 'due-router',
    now: new Date('2026-11-01T00:00:00Z'),
    ...(lastGood ? { lastGoodBackup: { time: lastGood, sha256: 'a'.repeat(64), size: 1, capDigest: digestCap('URI:CHK:x') } } : {}),
  }));
  return ctx;
}

const at = (hoursAfterLast: number) => new Date(Date.parse(LAST) + hoursAfterLast * HOUR);

const table: Array<{ name: string; interval: number; last: string | undefined; now: Date; due: boolean }> = [
  { name: 'no good backup yet', interval: 240, last: undefined, now: at(0), due: true },
  { name: 'just backed up', interval: 240, last: LAST, now: at(0), due: false },
  { name: 'an hour short of the interval', interval: 240, last: LAST, now: at(239), due: false },
  { name: 'exactly one interval old', interval: 240, last: LAST, now: at(240), due: true },
  { name: 'long overdue', interval: 240, last: LAST, now: at(1000), due: true },
  { name: 'an hourly interval, 59 minutes on', interval: 1, last: LAST, now: at(59 / 60), due: false },
  { name: 'an hourly interval, an hour on', interval: 1, last: LAST, now: at(1), due: true },
  { name: 'a 3-minute interval (a test image), 2 minutes on', interval: 0.05, last: LAST, now: at(2 / 60), due: false },
  { name: 'a 3-minute interval, 3 minutes on', interval: 0.05, last: LAST, now: at(3 / 60), due: true },
  // the clock moved back (or was ahead when the backup was recorded): the age is unknown, so due
  { name: 'a backup dated a day after the clock', interval: 240, last: LAST, now: at(-24), due: true },
];

for (const row of table) {
  test(`backupDue: ${row.name} (interval ${row.interval} h) -> ${row.due ? 'due' : 'not due'}`, async (t) => {
    const ctx = await router(t, row.interval, row.last, row.now);
    t.is(await backupDue(ctx), row.due);
  });
}

test('backupDue: a state file that is not JSON is reported as every command reports it, not taken for "not due"', async (t) => {
  const ctx = await router(t, 240, LAST, at(1));
  await writeFileAtomic(ctx.path(DEVICE.state), '{"lastGoodBackup": {"time": "2026-11-20T10:00:00Z"', { mode: 0o600 });
  await t.throwsAsync(backupDue(ctx));
});

test('backupDue: a state whose time is not a string goes to the validated reading, which refuses it', async (t) => {
  const ctx = await router(t, 240, LAST, at(1));
  await writeFileAtomic(ctx.path(DEVICE.state), JSON.stringify({ lastGoodBackup: { time: 12 } }), { mode: 0o600 });
  await t.throwsAsync(backupDue(ctx));
});

// The periodic backup's cron entry: one managed block in root's crontab, installed, replaced or left
// as it is, never doubled, never touching the owner's own lines.
import test from 'ava';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createContext } from '../../../core/context.ts';
import { DEVICE } from '../../../core/device-paths.ts';
import { CRON_MARKER, cronLines, installCronEntry, withCronEntry } from '../../../firstboot/cron-entry.ts';

const OURS_240 = cronLines(240).join('\n') + '\n';
const OURS_24 = cronLines(24).join('\n') + '\n';
const OWN = '# m h dom mon dow command\n5 4 * * * /usr/local/bin/rotate-logs\n';

test('the managed block: marker, a comment naming the interval, an hourly --if-due line', (t) => {
  t.deepEqual(cronLines(240), [
    CRON_MARKER,
    '# backups run when the last good one is 240 h old; output goes to the journal',
    '17 * * * * systemd-cat -t sysback /usr/bin/sysback backup --if-due',
  ]);
});

test('an interval under an hour: cron asks every minute, the comment says minutes; an hour or more stays hourly', (t) => {
  t.deepEqual(cronLines(0.05), [
    CRON_MARKER,
    '# backups run when the last good one is 3 min old; output goes to the journal',
    '* * * * * systemd-cat -t sysback /usr/bin/sysback backup --if-due',
  ]);
  t.is(cronLines(1)[2], '17 * * * * systemd-cat -t sysback /usr/bin/sysback backup --if-due');
  t.is(cronLines(1.5)[1], '# backups run when the last good one is 1.5 h old; output goes to the journal');
  t.is(withCronEntry(OWN + OURS_240, 0.05), OWN + cronLines(0.05).join('\n') + '\n', 'a shorter interval replaces the block in place');
});

const table: Array<{ name: string; existing: string; interval: number; expected: string }> = [
  { name: 'install into an empty crontab', existing: '', interval: 240, expected: OURS_240 },
  { name: 'install after the owner\'s own lines, which stay as they are', existing: OWN, interval: 240, expected: OWN + OURS_240 },
  { name: 'install into a crontab without a final newline', existing: OWN.trimEnd(), interval: 240, expected: OWN + OURS_240 },
  { name: 'replace: a new interval rewrites the managed block, not a second one', existing: OWN + OURS_240, interval: 24, expected: OWN + OURS_24 },
  { name: 'idempotent: the same interval again leaves the crontab byte for byte', existing: OWN + OURS_240, interval: 240, expected: OWN + OURS_240 },
  { name: 'replace in place: the owner\'s lines after the managed block stay after it', existing: OURS_240 + '30 2 * * 0 /usr/local/bin/weekly\n', interval: 24, expected: OURS_24 + '30 2 * * 0 /usr/local/bin/weekly\n' },
  { name: 'a restored crontab with the block between the owner\'s lines is left byte for byte', existing: OWN + OURS_240 + '30 2 * * 0 /usr/local/bin/weekly\n', interval: 240, expected: OWN + OURS_240 + '30 2 * * 0 /usr/local/bin/weekly\n' },
  { name: 'two managed blocks (one copied by hand) become one', existing: OURS_240 + OWN + OURS_240, interval: 240, expected: OURS_240 + OWN },
];

for (const row of table) {
  test(`withCronEntry: ${row.name}`, (t) => {
    const once = withCronEntry(row.existing, row.interval);
    t.is(once, row.expected);
    t.is(once.split('\n').filter((l) => l === CRON_MARKER).length, 1, 'exactly one managed block');
    t.is(withCronEntry(once, row.interval), once, 'applying it again changes nothing');
  });
}

test('installCronEntry writes root\'s crontab with mode 0600, and a rerun leaves it as it was', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'sysback-cron-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const ctx = createContext({ root });
  const file = path.join(root, DEVICE.rootCrontab);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, OWN);
  t.is(await installCronEntry(ctx, 240), DEVICE.rootCrontab);
  const first = await readFile(file, 'utf8');
  t.is(first, OWN + OURS_240);
  t.is((await stat(file)).mode & 0o777, 0o600);
  await installCronEntry(ctx, 240);
  t.is(await readFile(file, 'utf8'), first);
  await installCronEntry(ctx, 24);
  t.is(await readFile(file, 'utf8'), OWN + OURS_24);
});

// runBackup's verification worth its cost (issue 9, item 3) against the in-memory grid: every run reads
// the new archive back once and checks share placement with plain checks; the full `check --verify`
// and the lease renewal run on their own schedule (backup.verifyIntervalDays, backup.leaseIntervalDays),
// are recorded in the state (lastVerify, lastLeaseRenewal) and shown by `sysback status`; a failure
// stays due. The unchanged path asks the grid only whether the latest is still there.
import test from 'ava';
import { VerifyError } from '../../../core/errors.ts';
import { readState, scheduledDue } from '../../../core/state.ts';
import { runBackup } from '../../../backup/run-backup.ts';
import { describeScheduled, deviceStatus } from '../../../backup/status.ts';
import { LATEST_NAME } from '../../../backup/manifest.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { TahoeHttpError, type TahoeClient } from '../../../grid/tahoe-client.ts';
import { configuredMemoryRouter, memoryGridConfig } from '../../support/memory-device.ts';

const DAY = 86_400_000;

/** Counts the private node's calls: checks with and without --verify, lease renewals, downloads. */
function spy(api: TahoeClient, options: { failVerify?: () => boolean } = {}) {
  const calls = { plainChecks: 0, verifyChecks: 0, renewals: 0, downloads: 0 };
  const check = api.check.bind(api);
  const renew = api.renewLeases.bind(api);
  const get = api.get.bind(api);
  api.check = async (cap, o) => {
    if (o?.verify) {
      calls.verifyChecks += 1;
      if (options.failVerify?.()) throw new TahoeHttpError('check', 500, 'the verifier could not reach a server');
    } else calls.plainChecks += 1;
    return check(cap, o);
  };
  api.renewLeases = async (cap, ms) => {
    calls.renewals += 1;
    return renew(cap, ms);
  };
  api.get = async (cap, name) => {
    calls.downloads += 1;
    return get(cap, name);
  };
  const reset = () => Object.assign(calls, { plainChecks: 0, verifyChecks: 0, renewals: 0, downloads: 0 });
  return { calls, reset };
}

async function setup(t: import('ava').ExecutionContext, options: { servers?: string[]; storage?: boolean; failVerify?: () => boolean } = {}) {
  const grid = new MemoryGrid(options.servers ? { servers: options.servers } : {});
  const config = await memoryGridConfig(grid);
  const r = await configuredMemoryRouter(grid, config, 'router-a', options.storage ? { storage: true } : {});
  t.teardown(() => r.destroy());
  r.write('/etc/myapp/app.conf', 'listen = 8080\n');
  r.write('/var/spool/cron/crontabs/root', '# crontab\n', 0o600);
  const api = r.device.client('private');
  return { grid, r, api, ...spy(api, options.failVerify ? { failVerify: options.failVerify } : {}) };
}

test('scheduledDue: due when never succeeded, or a success dated after now; else interval days after the last success', (t) => {
  const now = new Date('2026-12-01T00:00:00Z');
  t.true(scheduledDue(undefined, 7, now).due);
  t.true(scheduledDue({ time: '2026-11-30T00:00:00Z', result: 'failed' }, 7, now).due, 'a failure with no success before it');
  t.false(scheduledDue({ time: '2026-11-30T00:00:00Z', result: 'ok', lastOk: '2026-11-30T00:00:00Z' }, 7, now).due);
  t.is(scheduledDue({ time: '2026-11-30T00:00:00Z', result: 'ok', lastOk: '2026-11-30T00:00:00Z' }, 7, now).next.toISOString(), '2026-12-07T00:00:00.000Z');
  t.true(scheduledDue({ time: '2026-11-30T00:00:00Z', result: 'failed', lastOk: '2026-11-20T00:00:00Z' }, 7, now).due, 'counted from the last success');
  t.true(scheduledDue({ time: '2027-01-01T00:00:00Z', result: 'ok', lastOk: '2027-01-01T00:00:00Z' }, 7, now).due, 'a clock that was ahead never postpones it');
});

test('a first backup runs the full verification and the lease renewal (never done), records both; the next run, an hour later, runs neither', async (t) => {
  const { r, calls, reset } = await setup(t);
  const first = await runBackup(r.ctx);
  t.true(first.verify?.ok);
  t.truthy(first.leases);
  t.true(calls.verifyChecks > 0);
  t.is(calls.renewals, 1);
  const state = readState(r.ctx)!;
  t.is(state.lastVerify?.result, 'ok');
  t.is(state.lastVerify?.lastOk, state.lastVerify?.time);
  t.regex(state.lastVerify!.detail!, /3 object\(s\) verified/);
  t.is(state.lastLeaseRenewal?.result, 'ok');

  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  reset();
  const second = await runBackup(r.ctx);
  t.is(second.status, 'uploaded');
  t.is(second.verify, undefined);
  t.is(second.leases, undefined);
  t.is(calls.verifyChecks, 0, 'no share fetched again: the read-back and plain checks only');
  t.is(calls.renewals, 0);
  t.is(calls.downloads, 2, 'the manifest, and one end-to-end read-back of the new archive');
  t.true(calls.plainChecks > 0, 'placement from plain checks');
  t.deepEqual(readState(r.ctx)!.lastVerify, state.lastVerify, 'nothing recorded when nothing ran');
});

test('due again after the interval: the verification after backup.verifyIntervalDays, the leases after backup.leaseIntervalDays', async (t) => {
  const { r, calls, reset } = await setup(t);
  await runBackup(r.ctx);
  r.clock.advance(8 * DAY); // leases (7 days) due, verify (30 days) not
  reset();
  const leasesOnly = await runBackup(r.ctx);
  t.is(leasesOnly.status, 'unchanged');
  t.truthy(leasesOnly.leases);
  t.is(leasesOnly.verify, undefined);
  t.is(calls.verifyChecks, 0);
  t.is(calls.renewals, 1);
  r.clock.advance(23 * DAY); // 31 days since the verification
  reset();
  const both = await runBackup(r.ctx);
  t.is(both.status, 'unchanged');
  t.true(both.verify?.ok);
  t.truthy(both.leases, 'renewed 23 days ago: due again');
});

test('an unchanged run with nothing due reads the private directory and checks the latest archive once: no download, no verify, no renewal', async (t) => {
  const { r, calls, reset } = await setup(t);
  await runBackup(r.ctx);
  r.clock.advance(3_600_000);
  reset();
  const again = await runBackup(r.ctx);
  t.is(again.status, 'unchanged');
  t.deepEqual(calls, { plainChecks: 1, verifyChecks: 0, renewals: 0, downloads: 0 });
});

test('--upkeep (options.upkeep) runs both now, due or not', async (t) => {
  const { r, calls, reset } = await setup(t);
  await runBackup(r.ctx);
  r.clock.advance(3_600_000);
  reset();
  const now = await runBackup(r.ctx, { upkeep: true });
  t.true(now.verify?.ok);
  t.truthy(now.leases);
  t.is(calls.renewals, 1);
});

test('a failed verification is recorded as failed, not done: it stays due, the next run tries again, status shows it', async (t) => {
  let failing = true;
  const { r } = await setup(t, { failVerify: () => failing });
  const first = await runBackup(r.ctx);
  t.is(first.status, 'uploaded', 'the backup itself is good: the read-back matched');
  t.false(first.verify?.ok);
  let state = readState(r.ctx)!;
  t.is(state.lastVerify?.result, 'failed');
  t.is(state.lastVerify?.lastOk, undefined);
  t.regex(state.lastVerify!.detail!, /could not reach a server/);
  t.truthy(r.log.lines.find((l) => /full verification failed/.test(l)));
  const status = await deviceStatus(r.ctx, { offline: true });
  t.true(status.verify.due);
  t.is(status.verify.last?.result, 'failed');
  t.regex(describeScheduled('full verification', status.verify), /last .* \(failed\); next due now/);

  // unchanged, an hour later: still due; a failed verify of the latest makes the run back up again
  r.clock.advance(3_600_000);
  const second = await runBackup(r.ctx);
  t.false(second.verify?.ok);
  t.true(r.events.some((e) => e.step === 'b' && e.outcome === 'ok'), 'backed up again rather than trusting the latest');
  failing = false;
  r.clock.advance(3_600_000);
  const third = await runBackup(r.ctx);
  t.true(third.verify?.ok);
  state = readState(r.ctx)!;
  t.is(state.lastVerify?.result, 'ok');
  t.truthy(state.lastVerify?.lastOk);
  t.false((await deviceStatus(r.ctx, { offline: true })).verify.due);
});

test('a failed lease renewal is a warning, recorded as failed, and stays due', async (t) => {
  const { grid, r } = await setup(t);
  grid.inject('renewLeases', 500, 'the deep check did not finish');
  const first = await runBackup(r.ctx);
  t.is(first.status, 'uploaded');
  t.truthy(first.leaseError);
  t.is(readState(r.ctx)!.lastLeaseRenewal?.result, 'failed');
  r.clock.advance(3_600_000);
  const second = await runBackup(r.ctx);
  t.truthy(second.leases, 'due again on the next run');
  t.is(readState(r.ctx)!.lastLeaseRenewal?.result, 'ok');
});

test('status shows when each last ran and when each is next due', async (t) => {
  const { r } = await setup(t);
  const before = await deviceStatus(r.ctx, { offline: true });
  t.is(before.verify.last, undefined);
  t.true(before.verify.due);
  t.is(describeScheduled('lease renewal', before.leases), 'lease renewal: never run; next due now (the next backup run) (every 7 days)');
  await runBackup(r.ctx);
  const ran = readState(r.ctx)!;
  const after = await deviceStatus(r.ctx, { offline: true });
  t.deepEqual(
    { verify: [after.verify.due, after.verify.lastOk, after.verify.intervalDays], leases: [after.leases.due, after.leases.lastOk, after.leases.intervalDays] },
    { verify: [false, ran.lastVerify!.time, 30], leases: [false, ran.lastLeaseRenewal!.time, 7] },
  );
  t.is(after.verify.nextDue, new Date(Date.parse(ran.lastVerify!.time) + 30 * DAY).toISOString().replace(/\.\d+Z$/, 'Z'));
  t.regex(describeScheduled('full verification', after.verify), /^full verification: last \S+ \(ok\); next due \S+ \(every 30 days\)$/);
});

test('a corrupt archive (the grid returns other bytes) is caught by the read-back alone, with no verify due', async (t) => {
  const { grid, r, calls, reset } = await setup(t);
  await runBackup(r.ctx);
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  grid.corruptNextUpload();
  reset();
  await t.throwsAsync(runBackup(r.ctx), { instanceOf: VerifyError });
  t.is(calls.verifyChecks, 0);
});

test('missing shares of the latest archive are seen by the unchanged path\'s plain check: backed up again, placement restored', async (t) => {
  const { grid, r, api, calls, reset } = await setup(t, { servers: ['s1', 's2', 's3'], storage: true });
  const own = r.storageServer!;
  grid.placeFirstOn([own]);
  await runBackup(r.ctx);
  grid.placeFirstOn([]);
  const latest = (await api.info(r.privateCap, LATEST_NAME))!.readCap;
  const other = grid.placement(latest).find((h) => h.server !== own)!.server;
  grid.stopServer(other); // the router keeps 1 share, one other server 1: not recoverable without the router
  r.clock.advance(3_600_000);
  r.events.length = 0;
  reset();
  await runBackup(r.ctx);
  t.is(calls.verifyChecks, 0, 'seen without --verify');
  t.true(r.events.some((e) => e.step === 'b' && e.outcome === 'ok'), 'not taken as unchanged');
  t.truthy(r.log.lines.find((l) => /backing up again/.test(l)));
  const off = (await api.check((await api.info(r.privateCap, LATEST_NAME))!.readCap)).placement.filter((h) => h.server !== own);
  t.true(new Set(off.flatMap((h) => h.shares)).size >= 2, 'the latest survives the loss of the router again');
});

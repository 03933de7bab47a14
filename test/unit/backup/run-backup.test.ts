// runBackup (the seed's BACKING a)-d)) against the in-memory grid: no root, no Tahoe, seconds.
import test from 'ava';
import { EXIT, GridUnreachableError, TooFewServersError, VerifyError } from '../../../core/errors.ts';
import { readState } from '../../../core/state.ts';
import { runBackup } from '../../../backup/run-backup.ts';
import { ARCHIVES_DIR, LATEST_NAME, MANIFEST_NAME, parseManifest } from '../../../backup/manifest.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { sharesOn } from '../../../grid/tahoe-client.ts';
import { configuredMemoryRouter, memoryGridConfig } from '../../support/memory-device.ts';

async function setup(t: import('ava').ExecutionContext, options: { storage?: boolean; retention?: number; servers?: string[] } = {}) {
  const grid = new MemoryGrid(options.servers ? { servers: options.servers } : {});
  const config = await memoryGridConfig(grid);
  const r = await configuredMemoryRouter(grid, config, 'router-a', options);
  t.teardown(() => r.destroy());
  r.write('/etc/myapp/app.conf', 'listen = 8080\n');
  r.write('/var/spool/cron/crontabs/root', '# crontab\n', 0o600);
  const api = r.device.client('private');
  const manifest = async () => parseManifest((await api.getBytes(r.privateCap, MANIFEST_NAME)).toString('utf8'));
  const archives = async () => (await api.list(r.privateCap, ARCHIVES_DIR).catch(() => [])).map((e) => e.name);
  return { grid, r, api, manifest, archives };
}

test('a first backup: steps a) to d) in order, uploaded, verified, recorded, the latest linked', async (t) => {
  const { r, api, manifest, archives } = await setup(t);
  const result = await runBackup(r.ctx, { skipLeases: true });
  t.is(result.status, 'uploaded');
  t.deepEqual(r.events.filter((e) => !e.part).map((e) => `${e.step} ${e.outcome}`), ['a ok', 'b ok', 'c ok', 'd ok']);
  t.true(r.events.every((e) => e.flow === 'backup'));
  // the read-back, then (never done before, so due) the full verification of every share
  t.deepEqual(r.events.filter((e) => e.part).map((e) => e.part!), [
    `uploading archives/${result.generation!.name} (webapi)`,
    'verifying what the grid returns',
    `making ${result.generation!.name} the latest`,
    'checking that it survives the loss of this router',
    'verifying every share of the new backup',
  ]);
  t.true(result.verify?.ok);
  t.deepEqual(await archives(), [result.generation!.name]);
  t.is((await manifest()).generations[0]!.sha256, result.latest.sha256);
  t.is((await api.digest(r.privateCap, LATEST_NAME)).sha256, result.latest.sha256);
  t.is(readState(r.ctx)!.lastGoodBackup!.sha256, result.latest.sha256);
});

test("share placement: with the router's own storage server, it holds 1 of the archive's 3 shares", async (t) => {
  const { r, api } = await setup(t, { storage: true, servers: ['s1', 's2'] });
  await runBackup(r.ctx, { skipLeases: true });
  const latest = (await api.info(r.privateCap, LATEST_NAME))!;
  const check = await api.check(latest.readCap);
  t.is(sharesOn(check, r.storageServer!), 1);
  t.is(check.placement.length, 3);
});

test('an unchanged system uploads nothing: b) is skipped, archives/ and the manifest stay as they were', async (t) => {
  const { r, manifest, archives } = await setup(t);
  const first = await runBackup(r.ctx);
  const before = { archives: await archives(), manifest: await manifest() };
  r.clock.advance(3_600_000);
  r.events.length = 0;
  const second = await runBackup(r.ctx);
  t.is(second.status, 'unchanged');
  t.is(second.latest.sha256, first.latest.sha256);
  // the leases were renewed by the first run an hour ago: not due, so no d)
  t.deepEqual(r.events.filter((e) => !e.part).map((e) => `${e.step} ${e.outcome}`), ['a ok', 'b skipped', 'c ok']);
  t.truthy(first.leases);
  t.is(second.leases, undefined);
  t.is(second.verify, undefined);
  t.deepEqual(await archives(), before.archives);
  t.deepEqual(await manifest(), before.manifest);
});

test('generations and retention: the newest N by the manifest are kept, older ones pruned', async (t) => {
  const { r, manifest, archives } = await setup(t, { retention: 2 });
  const made: string[] = [];
  for (let i = 0; i < 4; i++) {
    r.write('/etc/myapp/app.conf', `listen = ${8080 + i}\n`);
    r.clock.advance(3_600_000);
    const result = await runBackup(r.ctx, { skipLeases: true });
    made.push(result.generation!.name);
    if (i >= 2) t.deepEqual(result.pruned, [made[i - 2]]);
  }
  t.deepEqual((await manifest()).generations.map((g) => g.name), [made[3], made[2]]);
  t.deepEqual((await archives()).sort(), [made[2], made[3]].sort());
});

test('verify mismatch: the grid returns other bytes; exit 17, the new archive unlinked, the last good backup kept', async (t) => {
  const { grid, r, api, archives } = await setup(t);
  const first = await runBackup(r.ctx, { skipLeases: true });
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  grid.corruptNextUpload();
  const error = await t.throwsAsync(runBackup(r.ctx, { skipLeases: true }), { instanceOf: VerifyError });
  t.is(error.exitCode, EXIT.verifyFailed);
  t.is(r.events.at(-1)!.outcome, 'failed');
  t.deepEqual(await archives(), [first.generation!.name]);
  t.is((await api.digest(r.privateCap, LATEST_NAME)).sha256, first.latest.sha256);
  t.is(readState(r.ctx)!.lastGoodBackup!.sha256, first.latest.sha256);
});

test('too few servers: nothing is uploaded before shares.happy servers are connected', async (t) => {
  const { grid, r, archives } = await setup(t);
  grid.stopServer('storage-0');
  await t.throwsAsync(runBackup(r.ctx), { instanceOf: TooFewServersError });
  t.deepEqual(await archives(), []);
  t.is(r.events.find((e) => e.step === 'c')!.outcome, 'failed');
});

const GONE = 'UnrecoverableFileError: insufficient good shares';
const isManifest = (name: string | undefined) => name === MANIFEST_NAME;

test('manifest-read-right-after-connect: the manifest answers HTTP 410 once (its shares on a server not connected yet); it is read again and the new manifest keeps every older generation', async (t) => {
  const { grid, r, manifest } = await setup(t);
  const first = await runBackup(r.ctx, { skipLeases: true });
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  grid.inject('get', 410, GONE, { times: 1, name: isManifest });
  const second = await runBackup(r.ctx, { skipLeases: true, retry: { sleep: async () => {} } });
  t.is(second.status, 'uploaded');
  t.deepEqual((await manifest()).generations.map((g) => g.name), [second.generation!.name, first.generation!.name]);
  t.true(r.log.lines.some((line) => /reading the backup manifest failed for the moment/.test(line)), r.log.lines.join('\n'));
});

test('manifest-unreadable: a manifest that stays unreadable (HTTP 410 on every try) fails the run with exit 10 and writes nothing; the next run keeps every generation', async (t) => {
  const { grid, r, api, manifest, archives } = await setup(t);
  const made = [(await runBackup(r.ctx, { skipLeases: true })).generation!.name];
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  made.unshift((await runBackup(r.ctx, { skipLeases: true })).generation!.name);
  const before = { manifest: await manifest(), archives: await archives(), latest: (await api.info(r.privateCap, LATEST_NAME))!.readCap };

  r.write('/etc/myapp/app.conf', 'listen = 9191\n');
  r.clock.advance(3_600_000);
  grid.inject('get', 410, GONE, { times: 5, name: isManifest });
  const error = await t.throwsAsync(runBackup(r.ctx, { skipLeases: true, retry: { sleep: async () => {} } }), { instanceOf: GridUnreachableError });
  t.is(error.exitCode, EXIT.gridUnreachable);
  t.regex(error.message, /manifest is in the private area but cannot be read now.*nothing was uploaded/);
  t.deepEqual(await manifest(), before.manifest);
  t.deepEqual(await archives(), before.archives);
  t.is((await api.info(r.privateCap, LATEST_NAME))!.readCap, before.latest);
  t.is(readState(r.ctx)!.lastGoodBackup!.generation, made[0]);

  // the servers are back: the change is backed up, and no older generation was lost
  const third = await runBackup(r.ctx, { skipLeases: true });
  t.deepEqual((await manifest()).generations.map((g) => g.name), [third.generation!.name, ...made]);
  t.deepEqual((await archives()).sort(), [third.generation!.name, ...made].sort());
});

test('damaged-manifest-keeps-older: a damaged manifest is replaced by one with the new generation only, and the older archives stay in archives/ on this run and the next (never taken for orphans)', async (t) => {
  const { r, api, manifest, archives } = await setup(t);
  const made: string[] = [];
  for (let i = 0; i < 2; i++) {
    r.write('/etc/myapp/app.conf', `listen = ${8080 + i}\n`);
    r.clock.advance(3_600_000);
    made.unshift((await runBackup(r.ctx, { skipLeases: true })).generation!.name);
  }
  await api.put('{"format": "not a manifest"', { dirCap: r.privateCap, name: MANIFEST_NAME });
  for (let i = 0; i < 2; i++) {
    r.write('/etc/myapp/app.conf', `listen = ${9090 + i}\n`);
    r.clock.advance(3_600_000);
    made.unshift((await runBackup(r.ctx, { skipLeases: true })).generation!.name);
  }
  t.true(r.log.lines.some((line) => /manifest/.test(line) && /writing a new one/.test(line)), r.log.lines.join('\n'));
  t.deepEqual((await manifest()).generations.map((g) => g.name), made.slice(0, 2));
  t.deepEqual((await archives()).sort(), [...made].sort());
});

test('orphan-pruned: an archive a killed run linked after the last recorded generation (never recorded) is pruned by the next run', async (t) => {
  const { r, api, manifest, archives } = await setup(t);
  const first = await runBackup(r.ctx, { skipLeases: true });
  r.clock.advance(60_000);
  const orphan = `SysBackup-${new Date(r.clock.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`;
  await api.put('half an archive', { dirCap: r.privateCap, name: `${ARCHIVES_DIR}/${orphan}` });
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  const second = await runBackup(r.ctx, { skipLeases: true });
  t.deepEqual(second.pruned, [orphan]);
  t.deepEqual((await archives()).sort(), [first.generation!.name, second.generation!.name].sort());
  t.deepEqual((await manifest()).generations.map((g) => g.name), [second.generation!.name, first.generation!.name]);
});

test('expired-not-pruned: a generation the manifest expired but a killed run never unlinked is pruned by the next run (the previous manifest was full)', async (t) => {
  const { r, api, manifest, archives } = await setup(t, { retention: 2 });
  const made: string[] = [];
  for (let i = 0; i < 2; i++) {
    r.write('/etc/myapp/app.conf', `listen = ${8080 + i}\n`);
    r.clock.advance(3_600_000);
    made.unshift((await runBackup(r.ctx, { skipLeases: true })).generation!.name);
  }
  const oldest = made[1]!;
  const oldestCap = (await api.info(r.privateCap, `${ARCHIVES_DIR}/${oldest}`))!.readCap;
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  made.unshift((await runBackup(r.ctx, { skipLeases: true })).generation!.name);
  // as if that run was killed after its manifest (which expired the oldest) and before pruning
  await api.link(r.privateCap, `${ARCHIVES_DIR}/${oldest}`, oldestCap);
  r.write('/etc/myapp/app.conf', 'listen = 9191\n');
  r.clock.advance(3_600_000);
  const next = await runBackup(r.ctx, { skipLeases: true });
  t.true(next.pruned.includes(oldest), next.pruned.join(', '));
  t.deepEqual((await archives()).sort(), [...(await manifest()).generations.map((g) => g.name)].sort());
});

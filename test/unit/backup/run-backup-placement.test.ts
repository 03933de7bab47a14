// runBackup with routers that offer storage, as the image ships them (issue 11, item 1 and 2): a
// backup is good only when it survives the loss of the router; a run that does not end good changes
// nothing recovery depends on, whichever step fails.
import test from 'ava';
import { EXIT, TooFewServersError } from '../../../core/errors.ts';
import { DEVICE } from '../../../core/device-paths.ts';
import { readState } from '../../../core/state.ts';
import { IDENTITY_FILE, recoveryCard } from '../../../grid/public-area.ts';
import { PlacementError, TooFewOtherServersError } from '../../../backup/placement.ts';
import { runBackup } from '../../../backup/run-backup.ts';
import { deviceStatus } from '../../../backup/status.ts';
import { ARCHIVES_DIR, LATEST_NAME, MANIFEST_NAME, parseManifest } from '../../../backup/manifest.ts';
import { MemoryGrid } from '../../../grid/memory-grid.ts';
import { configuredMemoryRouter, memoryGridConfig } from '../../support/memory-device.ts';

const GRID = ['storage-0', 'storage-1', 'storage-2'];

async function setup(t: import('ava').ExecutionContext) {
  // happy 2: Tahoe accepts an upload spread over the router and one grid server (the repro)
  const grid = new MemoryGrid({ servers: GRID, shares: { needed: 2, happy: 2, total: 3 } });
  const config = await memoryGridConfig(grid);
  const r = await configuredMemoryRouter(grid, config, 'router-a', { storage: true });
  t.teardown(() => r.destroy());
  r.write('/etc/myapp/app.conf', 'listen = 8080\n');
  r.write('/var/spool/cron/crontabs/root', '# crontab\n', 0o600);
  const own = r.storageServer!;
  const api = r.device.client('private');
  const archives = async () => (await api.list(r.privateCap, ARCHIVES_DIR).catch(() => [])).map((e) => e.name).sort();
  /** the grid whole again, the router lost: what a fresh router reads from the private area */
  const afterLoss = async () => {
    for (const id of GRID) grid.startServer(id);
    r.node('private').stop();
    const fresh = grid.client({ name: 'fresh-router' });
    const manifest = parseManifest((await fresh.getBytes(r.privateCap, MANIFEST_NAME)).toString('utf8'));
    const newest = manifest.generations[0]!;
    const bytes = await fresh.digest(r.privateCap, `${ARCHIVES_DIR}/${newest.name}`);
    const latest = await fresh.digest(r.privateCap, LATEST_NAME);
    return { manifest, newest, bytes, latest };
  };
  return { grid, r, own, api, archives, afterLoss };
}

test("two grid servers down (the router and one server would hold the shares, happy 2 satisfied): refused with exit 11 before any write, the last good backup kept and recoverable without the router", async (t) => {
  const { grid, r, own, archives, afterLoss } = await setup(t);
  const first = await runBackup(r.ctx, { skipLeases: true });
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  grid.stopServer('storage-1');
  grid.stopServer('storage-2');
  grid.placeFirstOn([own, 'storage-0']);
  // the wait for servers (step c) already counts those other than the router's own, and gives up at its bound
  const error = await t.throwsAsync(runBackup(r.ctx, { skipLeases: true }), { instanceOf: TooFewServersError });
  t.is(error.exitCode, EXIT.tooFewServers);
  t.regex(error.message, /only 1 storage server\(s\) other than this router are connected \(waited \d+ s\); .* needs 2/);
  t.is(r.events.filter((e) => e.step === 'c' && !e.part).at(-1)!.outcome, 'failed');
  t.is(readState(r.ctx)!.lastGoodBackup!.sha256, first.latest.sha256);
  grid.placeFirstOn([]);
  for (const id of GRID) grid.startServer(id);
  t.deepEqual(await archives(), [first.generation!.name], 'nothing was uploaded');
  const lost = await afterLoss();
  t.is(lost.newest.name, first.generation!.name);
  t.is(lost.bytes.sha256, first.latest.sha256);
  t.is(lost.latest.sha256, first.latest.sha256);
});

test("stale-welcome: two grid servers stopped a moment ago still show as connected on the welcome page: the plain check of the private directory asks the servers, the run is refused with exit 11 before any write", async (t) => {
  const { grid, r, api, archives, afterLoss } = await setup(t);
  const first = await runBackup(r.ctx, { skipLeases: true });
  const welcomeBefore = await api.welcome();
  r.write('/etc/myapp/app.conf', 'listen = 9090\n');
  r.clock.advance(3_600_000);
  grid.stopServer('storage-1');
  grid.stopServer('storage-2');
  // Tahoe notices a stopped server only when a connection drops: its welcome page lags
  api.welcome = async () => welcomeBefore;
  const error = await t.throwsAsync(runBackup(r.ctx, { skipLeases: true }), { instanceOf: TooFewOtherServersError });
  t.is(error.exitCode, EXIT.tooFewServers);
  t.regex(error.message, /only 1 storage server\(s\) other than this router are connected/);
  t.is(readState(r.ctx)!.lastGoodBackup!.sha256, first.latest.sha256);
  for (const id of GRID) grid.startServer(id);
  t.deepEqual(await archives(), [first.generation!.name], 'nothing was uploaded');
  const lost = await afterLoss();
  t.is(lost.newest.name, first.generation!.name);
});

test("the router's own server holds 1 of 3 and one grid server is down: accepted, and it survives the loss of the router", async (t) => {
  const { grid, r, own, afterLoss } = await setup(t);
  grid.stopServer('storage-2');
  grid.placeFirstOn([own, 'storage-0', 'storage-1']);
  const result = await runBackup(r.ctx, { skipLeases: true });
  t.is(result.status, 'uploaded');
  t.deepEqual(Object.values(result.placement!).map((v) => [v.ok, v.ownShares]), [[true, 1], [true, 1], [true, 1], [true, 1]]);
  // the state keeps how it survives the router's loss, and `sysback status` shows it
  t.deepEqual(readState(r.ctx)!.lastGoodBackup!.placement, { distinctShares: 2, otherServers: 2, ownShares: 1, needed: 2 });
  t.deepEqual((await deviceStatus(r.ctx, { offline: true })).lastGoodBackup?.placement, { distinctShares: 2, otherServers: 2, ownShares: 1, needed: 2 });
  grid.placeFirstOn([]);
  const lost = await afterLoss();
  t.is(lost.bytes.sha256, result.latest.sha256);
});

test('servers stopped between the upload and the manifest: the manifest would live on the router; the previous one is linked back, exit 11; healed, the rerun survives the loss of the router', async (t) => {
  const { grid, r, own, api, afterLoss } = await setup(t);
  grid.placeFirstOn([own, 'storage-0', 'storage-1']);
  const first = await runBackup(r.ctx, { skipLeases: true });
  r.write('/etc/myapp/app.conf', 'listen = 9191\n');
  r.clock.advance(3_600_000);
  grid.beforeNext('put', () => {
    grid.stopServer('storage-1');
    grid.stopServer('storage-2');
    grid.placeFirstOn([own, 'storage-0']);
  }, { name: (name) => name === MANIFEST_NAME });
  const error = await t.throwsAsync(runBackup(r.ctx, { skipLeases: true }), { instanceOf: PlacementError });
  t.is(error.exitCode, EXIT.tooFewServers);
  t.regex(error.message, /the manifest: 1 distinct share/);
  t.is(readState(r.ctx)!.lastGoodBackup!.sha256, first.latest.sha256);
  const linkedBack = parseManifest((await api.getBytes(r.privateCap, MANIFEST_NAME)).toString('utf8'));
  t.is(linkedBack.generations[0]!.name, first.generation!.name, 'the previous manifest is linked back');
  t.is((await api.digest(r.privateCap, LATEST_NAME)).sha256, first.latest.sha256, 'and the previous latest');
  // the grid heals while the router lives: the rerun is good and survives the router's loss
  for (const id of ['storage-1', 'storage-2']) grid.startServer(id);
  grid.placeFirstOn([]);
  r.clock.advance(3_600_000);
  const rerun = await runBackup(r.ctx, { skipLeases: true });
  t.is(rerun.status, 'uploaded');
  const lost = await afterLoss();
  t.is(lost.newest.name, rerun.generation!.name);
  t.is(lost.bytes.sha256, rerun.latest.sha256);
});

test('lease renewal failing with HTTP 410 after the manifest: a warning, the backup good and recorded, and its manifest names what can be read without the router', async (t) => {
  const { grid, r, afterLoss } = await setup(t);
  grid.inject('renewLeases', 410, 'UnrecoverableFileError: an object in the tree cannot be read', { times: 5 });
  const result = await runBackup(r.ctx);
  t.is(result.status, 'uploaded');
  t.regex(result.leaseError ?? '', /HTTP 410/);
  t.true(r.log.lines.some((l) => /lease renewal failed/.test(l)));
  t.is(readState(r.ctx)!.lastGoodBackup!.sha256, result.latest.sha256);
  const lost = await afterLoss();
  t.is(lost.newest.name, result.generation!.name);
  t.is(lost.bytes.sha256, result.latest.sha256);
});

test('the generation name comes after reading the manifest: a clock that stepped back never reuses a name', async (t) => {
  const { r, archives } = await setup(t);
  const first = await runBackup(r.ctx, { skipLeases: true });
  r.write('/etc/myapp/app.conf', 'listen = 7070\n');
  const second = await runBackup(r.ctx, { skipLeases: true }); // same clock: the same second
  t.not(second.generation!.name, first.generation!.name);
  t.deepEqual(await archives(), [first.generation!.name, second.generation!.name].sort());
});

test('exclude: paths left out of this run are not in the archive', async (t) => {
  const { r } = await setup(t);
  r.write('/etc/myapp/secret.key', 'k\n');
  const all = await runBackup(r.ctx, { skipLeases: true, force: true });
  r.clock.advance(3_600_000);
  const fewer = await runBackup(r.ctx, { skipLeases: true, force: true, exclude: ['/etc/myapp/secret.key'] });
  t.is(fewer.generation!.entries, all.generation!.entries - 1);
});

test('lease renewal of the identity directory works from the read cap on the recovery card (no write cap kept), checks its placement, and the missing alias link is made again', async (t) => {
  const { r, api } = await setup(t);
  const dir = await api.mkdir();
  await api.put('identity bytes\n', { dirCap: dir, name: IDENTITY_FILE });
  const readCap = (await api.info(dir))!.readCap;
  r.write(DEVICE.recoveryCard, recoveryCard('router-a', readCap));
  const result = await runBackup(r.ctx);
  t.is(result.leaseError, undefined);
  t.deepEqual(Object.keys(result.identityPlacement ?? {}), ['the identity directory', 'the identity file']);
  t.true(Object.values(result.identityPlacement!).every((v) => v.ok));
  t.true(r.log.lines.some((l) => /had vanished from the public directory; it was linked again/.test(l)));
  const config = r.device.config();
  t.is((await api.info(config.grid.publicDirectory, 'router-a'))!.readCap, readCap);
});

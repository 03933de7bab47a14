// A backup while storage nodes are down (issue 3, Tests), then the loss of the router (issue 11, build
// item 1), on a PRIVATE grid of 3 storage nodes (shares 2-of-3, happy 2) whose nodes this file may
// stop. The router's own private node is a storage server too (DESIGN §4.1), so the router sees 4
// servers: with one grid node down (3 left) the backup succeeds, recoverable without the router; with
// two down (the router and one grid node left = happy) Tahoe would accept it, but a backup that leans
// on the router's own shares does not survive the router's loss (issue 11): it is refused with exit 11
// before anything is written, the last good backup kept; with all three down (only its own node left)
// it fails cleanly: a non-zero exit, a one-line message, no stack, and the previous generation stays
// intact and verifiable (checked once the nodes are back: its shares were spread over servers that
// were down).
// Then the failure issue 11 found on a real grid: a backup that exits non-zero had already changed
// what recovery restores, so a router lost after it could not be recovered. With the grid whole again
// and NO healthy backup in between, the router is lost (nodes stopped by PID, its root gone) and a
// fresh router, holding shares as the image ships it, recovers from alias + password: it must restore
// exactly the tree of the last good backup (the "storage-3 down" one), name the manifest's newest
// generation in its state, print no cap or password, and back up again.
import test from 'ava';
import { existsSync } from 'node:fs';
import type { Manifest } from '../../backup/manifest.ts';
import { DEVICE } from '../../core/device-paths.ts';
import { EXIT } from '../../core/errors.ts';
import { createContext } from '../../core/context.ts';
import { createLog } from '../../core/log.ts';
import { gridFiles, startGrid } from '../../grid/local-grid.ts';
import { stopNode } from '../../grid/tahoe-node.ts';
import { configuredRouter, generations, latestCap, manifest, PASSWORD, privateApi, privateCap, stackLines } from '../support/backup-router.ts';
import { treeDiff, treeOf, type Tree } from '../support/fault-tree.ts';
import { CHANGING_FILE, touchFixture } from '../support/fixture-tree.ts';
import { SimulatedRouter } from '../support/router.ts';
import { makeGrid, type TestGrid } from '../support/shared-grid.ts';
import { testIf } from '../support/skip.ts';
import { isRoot } from '../support/target.ts';

let g: TestGrid | undefined;
let router: SimulatedRouter | undefined;
/** the router recovered in place of the lost one */
let fresh: SimulatedRouter | undefined;
/** the last backup that ended good (the "storage-3 down" one): what a recovery after the loss must restore */
let lastGood: { manifest: Manifest; latest: string; tree: Tree } | undefined;
/** a cap as Tahoe prints one (any kind), for the no-cap-in-the-output checks */
const CAP = /URI:[A-Z0-9-]+:[a-z2-7]{6}/;

test.before(async () => {
  if (!isRoot()) return;
  g = await makeGrid({ storage: 3, prefix: 'sysback-down-grid-' });
  // this router's own storage server holds shares, as a real router's does: the grid is its 3 nodes plus the router
  router = await configuredRouter('bk-down', g.grid, { transport: 'webapi', fixture: { bigMiB: 4 }, holdShares: true });
});

test.after.always(async () => {
  await fresh?.destroy();
  await router?.destroy();
  await g?.release();
});

const serial = testIf(isRoot(), 'storage-down tests need root (chroot, overlayfs, Tahoe from the target root filesystem)').serial;

async function waitForConnected(r: SimulatedRouter, wanted: number): Promise<number> {
  const api = privateApi(r);
  let connected = -1;
  for (let i = 0; i < 150; i++) {
    connected = await api.connectedServers();
    if (connected === wanted) return connected;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return connected;
}

serial('the grid is 2-of-3 with happy 2, and the router sees its 3 nodes plus its own', async (t) => {
  t.deepEqual(g!.grid.shares, { needed: 2, happy: 2, total: 3 });
  t.is(await waitForConnected(router!, 4), 4);
});

serial('with storage-3 down (3 servers left, happy 2) a backup still succeeds, recoverable without the router', async (t) => {
  const r = router!;
  await stopNode(gridFiles(g!.dir).node('storage-3'));
  t.is(await waitForConnected(r, 3), 3);
  await touchFixture(r.root, 'down-1');
  const result = await r.sysback(['backup', '--json']);
  t.is(result.exitCode, 0, result.stderr);
  t.is(JSON.parse(result.stdout).status, 'uploaded');
  const m = await manifest(r);
  const api = privateApi(r);
  t.is(m!.generations[0]!.sha256, (await api.digest((await latestCap(r))!)).sha256);
  lastGood = { manifest: m!, latest: (await latestCap(r))!, tree: treeOf(r.root) };
  // the cost of the placement check: the checks a run adds (the archive again, the manifest, the
  // private directory and archives/, twice for the directories), timed here on this grid
  const started = Date.now();
  const latest = (await latestCap(r))!;
  for (const cap of [latest, latest, privateCap(r), privateCap(r)]) await api.check(cap);
  t.log(`placement checks: 4 check calls in ${((Date.now() - started) / 1000).toFixed(2)} s`);
});

serial("with storage-3 and storage-2 down (the router and one grid node left) the backup is refused with exit 11 and nothing recovery reads changes", async (t) => {
  const r = router!;
  const before = await manifest(r);
  const latestBefore = await latestCap(r);
  await stopNode(gridFiles(g!.dir).node('storage-2'));
  t.is(await waitForConnected(r, 2), 2);
  await touchFixture(r.root, 'down-2');
  const result = await r.sysback(['backup', '--json']);
  t.is(result.exitCode, EXIT.tooFewServers, result.stderr);
  t.regex(result.stderr, /only 1 storage server\(s\) other than this router are connected/);
  t.deepEqual(stackLines(result.stderr), [], 'no stack');
  t.is(await latestCap(r), latestBefore, 'SysBackup.tar.gz still points at the last good backup');
  t.deepEqual(await manifest(r), before, 'the manifest is unchanged');
});

serial('with every grid storage node down (only the router\'s own left) the backup fails cleanly and the previous generation stays intact', async (t) => {
  const r = router!;
  const before = await manifest(r);
  const latestBefore = await latestCap(r);
  const listedBefore = (await generations(r)).map((e) => [e.name, e.cap]);
  for (const name of ['storage-1', 'storage-2', 'storage-3']) await stopNode(gridFiles(g!.dir).node(name));
  t.is(await waitForConnected(r, 1), 1);
  await touchFixture(r.root, 'all-down');
  const result = await r.sysback(['backup']);
  t.log(`exit ${result.exitCode}: ${result.stderr.trim().split('\n').filter((l) => l.startsWith('sysback:')).join(' | ')}`);
  t.not(result.exitCode, 0);
  t.true(([EXIT.tooFewServers, EXIT.verifyFailed, EXIT.command] as number[]).includes(result.exitCode), `exit ${result.exitCode}`);
  const messages = result.stderr.split('\n').filter((l) => l.startsWith('sysback: '));
  t.is(messages.length, 1, `one message: ${result.stderr}`);
  t.notRegex(messages[0] ?? '', /internal error/);
  t.deepEqual(stackLines(result.stderr), [], 'no stack');
  t.false(/URI:[A-Z0-9-]+:[a-z2-7]{6}/.test(result.stderr), 'no cap in the output');

  // the nodes come back: the previous generation is untouched and verifies
  await startGrid(createContext({ log: createLog({ level: 'warn' }) }), g!.dir, { timeoutMs: 120_000 });
  t.is(await waitForConnected(r, 4), 4);
  t.is(await latestCap(r), latestBefore, 'SysBackup.tar.gz still points at the previous generation');
  t.deepEqual(await manifest(r), before, 'the manifest is unchanged');
  t.deepEqual((await generations(r)).map((e) => [e.name, e.cap]), listedBefore, 'archives/ is unchanged');
  const api = privateApi(r);
  const check = await api.check(latestBefore!, { verify: true });
  t.true(check.recoverable, check.summary);
  t.log(`previous generation after the nodes came back: ${check.summary}`);
  t.is((await api.digest(latestBefore!)).sha256, before!.generations[0]!.sha256, 'its sha256 is the manifest\'s');
  // no backup runs on the whole grid before the router is lost: the recovery below reads only what the degraded runs left
});

serial('a backup that exits non-zero never changes what recovery restores: after the degraded runs the router is lost, and a fresh router recovers the last good backup', async (t) => {
  t.truthy(lastGood, 'needs the "storage-3 down" backup');
  const old = router!;
  const alias: string = JSON.parse(old.read(DEVICE.state)).alias;
  const filesTxt = old.read(DEVICE.filesList);
  t.is((await manifest(old))!.generations[0]!.name, lastGood!.manifest.generations[0]!.name, 'the manifest names the last good backup newest');
  t.is(await latestCap(old), lastGood!.latest, 'SysBackup.tar.gz names the last good backup');

  // the router is lost: its nodes stopped by their PIDs, its root (and its storage server's shares) gone
  await old.lose();
  router = undefined;
  t.false(existsSync(old.dir), "the lost router's files are gone");

  fresh = await SimulatedRouter.create('bk-down-new', { grid: g!.grid, transport: 'webapi', holdShares: true });
  // the image ships the list (the fixture's list names only the fixture's trees, not /etc/sysback)
  fresh.write(DEVICE.filesList, filesTxt);
  fresh.write('/root/answers.json', JSON.stringify({ mode: 'recover', alias, password: PASSWORD }) + '\n', 0o600);
  const run = await fresh.sysback(['recover', '--answers', '/root/answers.json', '--no-reboot']);
  t.log(run.stderr.trim().split('\n').filter((l) => /^sysback: |generation|fall/i.test(l)).join(' | '));
  t.is(run.exitCode, 0, run.stderr);
  t.regex(run.stdout, /would reboot now/);
  t.deepEqual(stackLines(run.stderr), [], 'no stack');

  t.deepEqual(treeDiff(lastGood!.tree, treeOf(fresh.root)), [], 'the restored tree is the last good backup\'s');
  t.is(fresh.read(CHANGING_FILE), 'generation=down-1\n', 'the last good backup, not a refused or failed one');
  const state = JSON.parse(fresh.read(DEVICE.state));
  t.is(state.mode, 'recover');
  t.is(state.recovered?.generation, lastGood!.manifest.generations[0]!.name, "the state names the manifest's newest generation");
  t.is(state.lastGoodBackup?.sha256, lastGood!.manifest.generations[0]!.sha256);

  for (const [name, text] of [['stdout', run.stdout], ['stderr', run.stderr]] as const) {
    t.false(text.includes(PASSWORD), `no password in ${name}`);
    t.false(CAP.test(text), `no cap in ${name}`);
  }
});

serial("the recovered router's next backup succeeds", async (t) => {
  t.truthy(fresh?.exists(DEVICE.state), 'needs the recovery');
  const r = fresh!;
  await touchFixture(r.root, 'after-recovery');
  const result = await r.sysback(['backup', '--json']);
  t.is(result.exitCode, 0, result.stderr);
  t.is(JSON.parse(result.stdout).status, 'uploaded');
  const m = (await manifest(r))!;
  t.true(m.generations[0]!.seq > lastGood!.manifest.generations[0]!.seq, 'a newer generation than the one recovered');
  t.true(m.generations.some((e) => e.name === lastGood!.manifest.generations[0]!.name), 'the recovered generation is still listed');
  t.is(m.generations[0]!.sha256, (await privateApi(r).digest((await latestCap(r))!)).sha256);
});

// recovered-storage-ignored, found by this file: the recovered private node once took the lost node's
// keys (same server ID) in a fresh directory whose `announcement-seqnum` started at 1 again, below the
// lost node's, so Tahoe's introducer and clients ignored its storage announcement ("new seqnum is too
// old") and the recovered router offered no storage (3 servers connected, not 4). Recovery now keeps
// the fresh node's own keys (recovery/steps/d-keys.ts): a new server ID the grid has never seen.
serial("recovered-storage-ignored: the recovered router's own storage server is seen by the grid (a fresh server ID, not the lost node's)", async (t) => {
  t.truthy(fresh?.exists(DEVICE.state), 'needs the recovery');
  const connected = await waitForConnected(fresh!, 4);
  t.log(`servers the recovered router sees: ${(await privateApi(fresh!).servers()).map((s) => `${s.nickname} ${s.connected ? 'connected' : 'not connected'}`).join(', ')}`);
  t.is(connected, 4, 'the fresh router sees the 3 grid nodes and its own');
});

// A backup while storage nodes are down (issue 3, Tests), on a PRIVATE grid of 3 storage nodes
// (shares 2-of-3, happy 2) whose nodes this file may stop. The router's own private node is a storage
// server too (DESIGN §4.1), so the router sees 4 servers: with one grid node down (3 left) and with two
// down (2 left = happy) the backup still succeeds; with all three down (only its own node left) it
// fails cleanly: a non-zero exit, a one-line message, no stack, and the previous generation stays
// intact and verifiable (checked once the nodes are back: its shares were spread over servers that
// were down).
import test from 'ava';
import { EXIT } from '../../core/errors.ts';
import { createContext } from '../../core/context.ts';
import { createLog } from '../../core/log.ts';
import { gridFiles, startGrid } from '../../grid/local-grid.ts';
import { stopNode } from '../../grid/tahoe-node.ts';
import { configuredRouter, generations, latestCap, manifest, privateApi, stackLines } from '../support/backup-router.ts';
import { touchFixture } from '../support/fixture-tree.ts';
import type { SimulatedRouter } from '../support/router.ts';
import { makeGrid, type TestGrid } from '../support/shared-grid.ts';
import { isRoot } from '../support/target.ts';

let g: TestGrid | undefined;
let router: SimulatedRouter | undefined;

test.before(async () => {
  if (!isRoot()) return;
  g = await makeGrid({ storage: 3, prefix: 'sysback-down-grid-' });
  // this router's own storage server holds shares, as a real router's does: the grid is its 3 nodes plus the router
  router = await configuredRouter('bk-down', g.grid, { transport: 'webapi', fixture: { bigMiB: 4 }, holdShares: true });
});

test.after.always(async () => {
  await router?.destroy();
  await g?.release();
});

const serial = isRoot() ? test.serial : test.skip;
if (!isRoot()) test('storage-down tests need root (chroot, overlayfs, Tahoe from the target root filesystem): skipped', (t) => t.pass());

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

for (const [down, left] of [[['storage-3'], 3], [['storage-3', 'storage-2'], 2]] as const) {
  serial(`with ${down.join(' and ')} down (${left} servers left, happy 2) a backup still succeeds`, async (t) => {
    const r = router!;
    for (const name of down) await stopNode(gridFiles(g!.dir).node(name));
    t.is(await waitForConnected(r, left), left);
    await touchFixture(r.root, `down-${down.length}`);
    const result = await r.sysback(['backup', '--json']);
    t.is(result.exitCode, 0, result.stderr);
    t.is(JSON.parse(result.stdout).status, 'uploaded');
    const m = await manifest(r);
    t.is(m!.generations[0]!.sha256, (await privateApi(r).digest((await latestCap(r))!)).sha256);
  });
}

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

  // and with the grid back, the next backup succeeds
  const again = await r.sysback(['backup', '--json']);
  t.is(again.exitCode, 0, again.stderr);
});

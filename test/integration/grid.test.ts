// The local grid on real Tahoe-LAFS (from the target root filesystem): init, start, stop, status through
// the bundled CLI; a client finds every storage node through the introducers, even with one of the two
// introducers down; bytes come back identical; a taken port or a missing program fails clearly; stop
// leaves no process and no mount behind.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createLog } from '../../core/log.ts';
import { createRunner } from '../../core/runner.ts';
import { gatewayApi, gridFiles, loadLocalGrid, readGridJson } from '../../grid/local-grid.ts';
import { createNode, startNode, stopNode } from '../../grid/tahoe-node.ts';
import { sysrootTahoe } from '../../grid/tahoe-program.ts';
import { TahoeWebApi } from '../../grid/webapi.ts';
import { freePorts } from '../../core/ports.ts';
import { sysback } from '../support/cli.ts';
import { mountsUnder, processesMentioning } from '../support/leaks.ts';
import { testIf } from '../support/skip.ts';
import { isRoot, targetRootfs } from '../support/target.ts';

const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-gridtest-'));
const dir = path.join(parent, 'grid');

test.before(async () => {
  if (isRoot()) process.env.SYSBACK_ROOTFS ??= await targetRootfs();
});

test.after.always(async () => {
  await sysback(['grid', 'stop', '--dir', dir]);
  rmSync(parent, { recursive: true, force: true });
});

const serial = testIf(isRoot(), 'grid tests need root (mount namespaces, chroot)').serial;

serial('grid init creates 2 introducers, 3 storage nodes and the public directory, and every storage node is connected', async (t) => {
  const result = await sysback(['grid', 'init', '--dir', dir, '--json']);
  t.is(result.exitCode, 0, result.stderr);
  const status = JSON.parse(result.stdout);
  t.deepEqual(
    status.nodes.map((n: { name: string; running: boolean }) => [n.name, n.running]),
    [['introducer-1', true], ['introducer-2', true], ['storage-1', true], ['storage-2', true], ['storage-3', true], ['gateway', true]],
  );
  t.is(status.storageConnected, 3);
  const grid = readGridJson(dir);
  t.is(grid.introducers.length, 2);
  t.deepEqual(grid.shares, { needed: 2, happy: 2, total: 3 });
  t.regex(grid.publicDirectory, /^URI:DIR2:/);
  // the gateway was given both introducers through private/introducers.yaml and is connected to both
  t.is(status.introducersConnected, 2);
});

serial('grid stop then start brings every storage node back, and status reports it', async (t) => {
  t.is((await sysback(['grid', 'stop', '--dir', dir])).exitCode, 0);
  t.deepEqual(processesMentioning(gridFiles(dir).nodes), []);
  const started = await sysback(['grid', 'start', '--dir', dir, '--json']);
  t.is(started.exitCode, 0, started.stderr);
  const status = JSON.parse((await sysback(['grid', 'status', '--dir', dir, '--json'])).stdout);
  t.is(status.storageConnected, 3);
  t.true(status.nodes.every((n: { running: boolean }) => n.running));
});

serial('a file put through the web API comes back byte-identical and verifies healthy', async (t) => {
  const api = gatewayApi(dir);
  const data = randomBytes(300_000);
  const cap = await api.put(data);
  t.regex(cap, /^URI:CHK:/);
  t.true((await api.getBytes(cap)).equals(data));
  const check = await api.check(cap, { verify: true });
  t.true(check.healthy, check.summary);
});

serial('with one introducer stopped, a newly started client still finds every storage node', async (t) => {
  const files = gridFiles(dir);
  t.true(await stopNode(files.node('introducer-1')));
  const grid = readGridJson(dir);
  const local = loadLocalGrid(dir);
  const runner = createRunner(createLog({ level: 'warn' }));
  const tahoe = sysrootTahoe(local.tahoe, files.scratch, [files.dir]);
  const clientDir = path.join(files.dir, 'late-client');
  const [webPort] = await freePorts(1);
  await createNode(runner, tahoe, {
    dir: clientDir,
    role: 'client',
    nickname: 'late-client',
    listen: { kind: 'none' },
    webPort,
    shares: grid.shares,
    introducers: grid.introducers,
  });
  try {
    await startNode(runner, tahoe, clientDir);
    const api = new TahoeWebApi(webPort!);
    await api.waitUntilUp(60_000);
    t.is(await api.waitForServers(3, 90_000), 3);
    t.deepEqual(await api.introducers(), { connected: 1, total: 2 });
  } finally {
    await stopNode(clientDir);
  }
  // bring the introducer back for the tests that follow
  t.is((await sysback(['grid', 'start', '--dir', dir])).exitCode, 0);
});

serial('a taken port makes grid start fail with a message naming the port and the node, starting nothing', async (t) => {
  t.is((await sysback(['grid', 'stop', '--dir', dir])).exitCode, 0);
  const storage1 = loadLocalGrid(dir).nodes.find((n) => n.name === 'storage-1')!;
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(storage1.webPort!, '127.0.0.1', resolve));
  try {
    const result = await sysback(['grid', 'start', '--dir', dir]);
    t.is(result.exitCode, 2);
    t.true(result.stderr.includes(`port 127.0.0.1:${storage1.webPort}`), result.stderr);
    t.true(result.stderr.includes('node storage-1'), result.stderr);
    t.false(result.stderr.includes('    at '), 'no stack trace for a user error');
    t.deepEqual(processesMentioning(gridFiles(dir).nodes), []);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

serial('a missing tahoe and mmdebstrap make grid init fail with a message naming the program', async (t) => {
  const bin = path.join(parent, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  const result = await sysback(['grid', 'init', '--dir', path.join(parent, 'no-tools')], {
    env: { PATH: bin, SYSBACK_CACHE: path.join(parent, 'empty-cache'), SYSBACK_ROOTFS: '' },
  });
  t.is(result.exitCode, 3, result.stderr);
  t.regex(result.stderr, /mmdebstrap/);
  t.regex(result.stderr, /hint: .*mmdebstrap/);
});

serial('grid stop leaves no process and no mount behind', async (t) => {
  t.is((await sysback(['grid', 'start', '--dir', dir])).exitCode, 0);
  t.true(processesMentioning(gridFiles(dir).nodes).length >= 6);
  const stopped = await sysback(['grid', 'stop', '--dir', dir]);
  t.is(stopped.exitCode, 0);
  t.deepEqual(processesMentioning(gridFiles(dir).nodes), []);
  t.deepEqual(processesMentioning(dir), []);
  t.deepEqual(mountsUnder(parent), []);
});

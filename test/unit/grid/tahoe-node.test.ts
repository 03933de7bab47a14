import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearStaleRunningProcess, createNode, runFiles, waitUntilAnswering } from '../../../grid/tahoe-node.ts';
import type { Runner } from '../../../core/runner.ts';
import { deviceConfigFromGrid } from '../../../core/config/device-config.ts';
import { deviceNodeSpec, ensureDeviceNode } from '../../../grid/device-nodes.ts';
import { createContext } from '../../../core/context.ts';
import { DEVICE } from '../../../core/device-paths.ts';
import { getCfgValue } from '../../../grid/tahoe-cfg.ts';
import { tcpGrid, torGrid } from '../../support/grid-fixture.ts';

function nodeDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sysback-node-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A live process whose command line is the one startNode gives `tahoe run` for DIR. */
async function fakeTahoeRun(t: { teardown: (fn: () => void) => void }, dir: string): Promise<ChildProcess> {
  const child = spawn('/bin/sh', ['-c', 'sleep 30', 'tahoe', 'run', '--allow-stdin-close', dir], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await sleep(100);
  return child;
}

test('stale-pidfile-after-power-cut: a running.process naming a PID now held by another program is removed', (t) => {
  const dir = nodeDir(t);
  // this test's own PID: alive, but not a `tahoe run` of DIR (what a PID of the next boot looks like)
  writeFileSync(path.join(dir, 'running.process'), `${process.pid} 1796000000.5\n`);
  t.true(clearStaleRunningProcess(dir));
  t.false(existsSync(path.join(dir, 'running.process')));
});

test('stale-pidfile-after-sigkill: a running.process naming a PID no process has is removed', (t) => {
  const dir = nodeDir(t);
  writeFileSync(path.join(dir, 'running.process'), '4194303 1796000000.5\n');
  t.true(clearStaleRunningProcess(dir));
  t.false(existsSync(path.join(dir, 'running.process')));
});

test('the running.process of a live tahoe run of this node is kept, and no file is no change', async (t) => {
  const dir = nodeDir(t);
  t.false(clearStaleRunningProcess(dir));
  const child = await fakeTahoeRun(t, dir);
  writeFileSync(path.join(dir, 'running.process'), `${child.pid} 1796000000.5\n`);
  t.false(clearStaleRunningProcess(dir));
  t.true(existsSync(path.join(dir, 'running.process')));
});

test('waitUntilAnswering fails at once, with the log, when the node exits before it answers', async (t) => {
  const dir = nodeDir(t);
  const { pidFile, logFile } = runFiles(dir);
  t.teardown(() => rmSync(pidFile, { force: true }));
  t.teardown(() => rmSync(logFile, { force: true }));
  writeFileSync(logFile, "ERROR: A process is already running as PID 3863\n'tahoe run' in '/x'\n");
  writeFileSync(pidFile, '4194303\n');
  // the message tells the early exit from the bound ("did not start answering within 60 s")
  const error = await t.throwsAsync(waitUntilAnswering(dir, async () => false, 60_000));
  t.regex(error!.message, /exited while starting: .*already running as PID 3863/);
});

test('waitUntilAnswering returns once the running node answers', async (t) => {
  const dir = nodeDir(t);
  const { pidFile } = runFiles(dir);
  t.teardown(() => rmSync(pidFile, { force: true }));
  const child = await fakeTahoeRun(t, dir);
  writeFileSync(pidFile, `${child.pid}\n`);
  let calls = 0;
  await waitUntilAnswering(dir, async () => ++calls >= 3, 60_000);
  t.is(calls, 3);
});

test('create-cut-short: a node directory left without tahoe.cfg (sysback killed during tahoe create-*) is removed before tahoe creates the node again', async (t) => {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-create-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dir = path.join(parent, 'public');
  mkdirSync(path.join(dir, 'private'), { recursive: true });
  writeFileSync(path.join(dir, 'private', 'half-written'), 'x');
  const seen: string[][] = [];
  const runner = {
    run: async (argv: readonly string[]) => {
      seen.push([...argv]);
      // what Tahoe itself checks: the base directory must be absent or empty
      t.false(existsSync(dir) && readdirSync(dir).length > 0, 'the base directory is empty when tahoe runs');
      throw new Error('stop here: the test is about what happens before tahoe runs');
    },
  } as unknown as Runner;
  const spec = { dir, role: 'client' as const, nickname: 'router-public', listen: { kind: 'none' as const }, shares: { needed: 2, happy: 2, total: 3 }, introducers: [] };
  await t.throwsAsync(createNode(runner, { where: 'host', argv: (args) => ['tahoe', ...args] }, spec), { message: /stop here/ });
  t.is(seen.length, 1);
  t.is(seen[0]![1], 'create-client');
});

/** A runner whose `tahoe create-*` makes a node directory the way Tahoe does: tahoe.cfg and private/. */
function creatingRunner(seen: string[][]): Runner {
  return {
    run: async (argv: readonly string[]) => {
      seen.push([...argv]);
      const dir = argv[argv.length - 1]!;
      mkdirSync(path.join(dir, 'private'), { recursive: true });
      writeFileSync(path.join(dir, 'tahoe.cfg'), '[node]\nnickname = router-public\n[client]\n');
      return { exitCode: 0, stdout: '', stderr: '' };
    },
  } as unknown as Runner;
}

const clientSpec = (dir: string) => ({ dir, role: 'client' as const, nickname: 'router-public', listen: { kind: 'none' as const }, shares: { needed: 2, happy: 2, total: 3 }, introducers: [{ name: 'grid', furl: 'pb://x@tcp:127.0.0.1:1/y' }] });
const tahoeOnHost = { where: 'host' as const, argv: (args: readonly string[]) => ['tahoe', ...args] };

test('create-orphan-writer: tahoe create-* runs in a staged sibling, so a create left running by a killed sysback never writes into the directory the next run creates', async (t) => {
  const parent = nodeDir(t);
  const dir = path.join(parent, 'public');
  const seen: string[][] = [];
  await createNode(creatingRunner(seen), tahoeOnHost, clientSpec(dir));
  const target = seen[0]![seen[0]!.length - 1]!;
  t.not(target, dir, 'tahoe never creates in the final directory');
  t.is(path.dirname(target), parent, 'the staged directory is a sibling (same file system, so the rename is atomic)');
  t.true(existsSync(path.join(dir, 'tahoe.cfg')), 'the node took its place whole');
  t.true(existsSync(path.join(dir, 'private', 'introducers.yaml')), 'the edits were made before the rename');
  t.deepEqual(readdirSync(parent), ['public'], 'nothing staged is left behind');
});

test('create-stale-staging: staged creations of a dead sysback are removed, a live one is left alone, a failed creation leaves nothing', async (t) => {
  const parent = nodeDir(t);
  const dir = path.join(parent, 'public');
  const live = spawn('/bin/sh', ['-c', 'sleep 30'], { stdio: 'ignore' });
  t.teardown(() => live.kill('SIGKILL'));
  const dead = spawn('/bin/true');
  await new Promise((resolve) => dead.on('exit', resolve));
  mkdirSync(path.join(parent, `public.creating-${dead.pid}`, 'private'), { recursive: true });
  mkdirSync(path.join(parent, `public.creating-${live.pid}`));
  mkdirSync(path.join(parent, 'public.creating-nonsense'));
  mkdirSync(path.join(parent, 'other.creating-1'));
  const failing = { run: async (argv: readonly string[]) => {
    mkdirSync(argv[argv.length - 1]!, { recursive: true });
    throw new Error('tahoe exited with code 1');
  } } as unknown as Runner;
  await t.throwsAsync(createNode(failing, tahoeOnHost, clientSpec(dir)), { message: /code 1/ });
  t.deepEqual(readdirSync(parent).sort(), [`public.creating-${live.pid}`, 'other.creating-1'].sort());
});

test('offer-storage: the private node is a storage server by default; tahoe.offerStorage false writes [storage] enabled = false (a reserve cannot keep mutable shares off)', async (t) => {
  for (const offerStorage of [true, false]) {
    const parent = nodeDir(t);
    const dir = path.join(parent, 'private');
    const config = deviceConfigFromGrid(tcpGrid, { tahoe: { offerStorage } });
    t.is(config.tahoe.offerStorage, offerStorage);
    const spec = deviceNodeSpec(dir, config, 'private', 'router');
    await createNode(creatingRunner([]), tahoeOnHost, spec);
    const cfg = readFileSync(path.join(dir, 'tahoe.cfg'), 'utf8');
    t.is(getCfgValue(cfg, 'storage', 'enabled'), offerStorage ? undefined : 'false');
    t.is(getCfgValue(cfg, 'storage', 'reserved_space'), '1G');
  }
});

test('foolscap-over-tor: on a Tor grid both device nodes speak only Foolscap to storage servers and the private node announces no HTTP storage; on a TCP grid neither', async (t) => {
  for (const grid of [torGrid, tcpGrid]) {
    const over = grid.listen === 'tor';
    const config = deviceConfigFromGrid(grid);
    for (const area of ['private', 'public'] as const) {
      const dir = path.join(nodeDir(t), area);
      await createNode(creatingRunner([]), tahoeOnHost, deviceNodeSpec(dir, config, area, 'router'));
      const cfg = readFileSync(path.join(dir, 'tahoe.cfg'), 'utf8');
      t.is(getCfgValue(cfg, 'client', 'force_foolscap'), over ? 'true' : undefined, `${grid.name} ${area} [client]`);
      t.is(getCfgValue(cfg, 'storage', 'force_foolscap'), over && area === 'private' ? 'true' : undefined, `${grid.name} ${area} [storage]`);
    }
  }
});

test('foolscap-over-tor: a node an older sysback made on a Tor grid gets the settings when a flow ensures it, and keeps everything else', async (t) => {
  const root = nodeDir(t);
  const ctx = createContext({ root });
  const dir = ctx.path(DEVICE.tahoe('private'));
  mkdirSync(path.join(dir, 'private'), { recursive: true });
  writeFileSync(path.join(dir, 'tahoe.cfg'), '[node]\nnickname = old-router\n[client]\nshares.needed = 2\n[storage]\nenabled = true\n');
  t.is(await ensureDeviceNode(ctx, deviceConfigFromGrid(torGrid), 'private', 'router'), 'existing');
  const cfg = readFileSync(path.join(dir, 'tahoe.cfg'), 'utf8');
  t.is(getCfgValue(cfg, 'client', 'force_foolscap'), 'true');
  t.is(getCfgValue(cfg, 'storage', 'force_foolscap'), 'true');
  t.is(getCfgValue(cfg, 'node', 'nickname'), 'old-router');
  t.is(getCfgValue(cfg, 'client', 'shares.needed'), '2');
  t.is((cfg.match(/^\[client\]$/gm) ?? []).length, 1, 'one [client] section: Tahoe refuses a duplicate');
});

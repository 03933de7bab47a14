// Tahoe-LAFS over a private Tor network on loopback (DESIGN §6): our own authorities, relays and
// client tors; introducers and storage nodes as onion services; a hide-ip client on another tor finds
// every storage node and gets back what was put. Also the safety rules of DESIGN §7: every torrc is a
// test-network torrc with loopback authorities only, and nothing outlives the test.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContext } from '../../core/context.ts';
import { createLog } from '../../core/log.ts';
import { freePorts } from '../../core/ports.ts';
import { createRunner } from '../../core/runner.ts';
import { gridFiles, initGrid, loadLocalGrid, stopGrid } from '../../grid/local-grid.ts';
import { getCfgValue, readCfg } from '../../grid/tahoe-cfg.ts';
import { createNode, startNode, stopNode } from '../../grid/tahoe-node.ts';
import { sysrootTahoe } from '../../grid/tahoe-program.ts';
import { startTorNetwork, type TorNetwork } from '../../grid/tor-network.ts';
import { TahoeWebApi } from '../../grid/webapi.ts';
import { mountsUnder, processesMentioning } from '../support/leaks.ts';
import { isRoot, targetRootfs } from '../support/target.ts';

const parent = mkdtempSync(path.join(os.tmpdir(), 'sysback-tor-'));
const runner = createRunner(createLog({ level: 'warn' }));
let network: TorNetwork | undefined;
const gridDir = path.join(parent, 'grid');

test.after.always(async () => {
  await stopGrid(gridDir).catch(() => {});
  await network?.stop();
  rmSync(parent, { recursive: true, force: true });
});

const serial = isRoot() ? test.serial : test.skip;

serial('a Tahoe grid forms over a private Tor network, and a hide-ip client on another tor uses it', async (t) => {
  const rootfs = await targetRootfs();
  const started = Date.now();
  network = await startTorNetwork(runner, path.join(parent, 'tor'), { rootfs, authorities: 3, relays: 2, clients: 2 });
  t.log(`private Tor network usable after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // DESIGN §7: every torrc is for the test network, with loopback authorities only
  for (const node of network.nodes) {
    const torrc = readFileSync(path.join(node.dir, 'torrc'), 'utf8');
    t.regex(torrc, /^TestingTorNetwork 1$/m, node.name);
    t.regex(torrc, /^OutboundBindAddress 127\.0\.0\.1$/m, node.name);
    const authorities = torrc.split('\n').filter((l) => l.startsWith('DirAuthority '));
    t.is(authorities.length, 3);
    t.true(authorities.every((l) => / 127\.0\.0\.1:\d+ [0-9A-F]{40}$/.test(l)), node.name);
    t.notRegex(torrc, /\b(9050|9150|9051)\b/, `${node.name} uses no default port`);
  }

  const gridStarted = Date.now();
  const [gridTor, clientTor] = network.clients;
  const { grid, status } = await initGrid(createContext({ root: '/', log: createLog({ level: 'warn' }), runner }), gridDir, {
    storage: 3,
    introducers: 2,
    listen: 'tor',
    transport: 'webapi',
    name: 'tor-test',
    timeoutMs: 300_000,
    tor: { controlPort: gridTor!.controlPort, socksPort: gridTor!.socksPort },
    targetRootfs: () => targetRootfs(),
  });
  t.log(`grid over Tor formed ${((Date.now() - gridStarted) / 1000).toFixed(1)} s after the first create-introducer`);
  t.is(status.storageConnected, 3);
  t.true(grid.introducers.every((i) => /@tor:[a-z2-7]{56}\.onion:\d+\//.test(i.furl)), 'introducers are onion services');
  for (const node of loadLocalGrid(gridDir).nodes) {
    const cfg = readCfg(gridFiles(gridDir).node(node.name));
    t.is(getCfgValue(cfg, 'tor', 'control.port'), gridTor!.controlPort, `${node.name} uses our tor, never a default port`);
    if (node.role !== 'introducer') t.is(getCfgValue(cfg, 'connections', 'tcp'), 'tor', `${node.name} connects through Tor only`);
  }

  // a client on ANOTHER tor, hiding its IP, finds every storage node through the onion introducers
  const files = gridFiles(gridDir);
  const tahoe = sysrootTahoe(rootfs, files.scratch, [files.dir]);
  const clientDir = path.join(files.dir, 'onion-client');
  const [webPort] = await freePorts(1);
  await createNode(runner, tahoe, {
    dir: clientDir, role: 'client', nickname: 'onion-client', listen: { kind: 'none' }, webPort,
    shares: grid.shares, introducers: grid.introducers, tor: { controlPort: clientTor!.controlPort, socksPort: clientTor!.socksPort },
  });
  try {
    await startNode(runner, tahoe, clientDir);
    const api = new TahoeWebApi(webPort!);
    await api.waitUntilUp(60_000);
    t.is(await api.waitForServers(3, 300_000), 3);
    const data = randomBytes(200_000);
    const cap = await api.put(data);
    // circuits in a 5-relay network can drop under load: a read is retried (bounded), never skipped
    let back: Buffer | undefined;
    for (let attempt = 1; attempt <= 5 && !back; attempt++) {
      try {
        back = await api.getBytes(cap);
      } catch (error) {
        t.log(`get attempt ${attempt}: ${(error as Error).message}`);
        await api.waitForServers(2, 120_000);
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
    t.true(back?.equals(data));
  } finally {
    await stopNode(clientDir);
  }
});

serial('stopping the grid and the Tor network leaves no tor, no tahoe and no mount behind', async (t) => {
  await stopGrid(gridDir);
  await network?.stop();
  t.deepEqual(processesMentioning(parent), []);
  t.deepEqual(mountsUnder(parent), []);
  t.true(readdirSync(parent).length > 0);
});

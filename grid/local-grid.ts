// Owns a local grid for tests, demos and small deployments (`sysback grid init|start|stop|status`,
// DESIGN §2 journey 1): 2 introducers (the seed asks for at least two), N storage nodes and one
// client-only "gateway" node whose web API the operator uses, all on 127.0.0.1.
// Layout of the grid directory D:
//   D/grid.json         what routers need (introducers, public directory cap, encoding): shareable
//   D/local-grid.json   this machine's view: nodes, ports, where tahoe comes from
//   D/nodes/NAME/       Tahoe node directories; D/nodes/NAME.pid, NAME.log beside them
//   D/.sysroot/         overlay scratch when tahoe runs from the target root filesystem
// Booted images reach a TCP grid (DESIGN §6): every listening node announces two location hints,
// tcp:127.0.0.1:P (the host, a chroot) and tcp:GUEST:P (GUEST = 10.0.2.100 by default), and it still
// listens on 127.0.0.1 only. `sysback boot --grid D` makes GUEST:P lead to 127.0.0.1:P: qemu with
// guestfwd, nspawn with a network namespace of ours (builder/grid-reach.ts). Tahoe tries every hint
// of a fURL and of a storage announcement, so the same grid.json works on the host and in a guest.
// Contract: every process is started in its own session and stopped by its PID; nothing is mounted on
// the host (sysroot mounts live in private namespaces); start waits, with a bound, until the gateway
// sees every storage node and says how many it sees when the bound passes.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Context } from '../core/context.ts';
import { GRID_FORMAT, sharesFor, type GridConfig, type Shares, validateGridConfig } from '../core/config/grid-config.ts';
import { loadJsonConfig, validateWith } from '../core/config/validate.ts';
import { SysbackError, TooFewServersError, UserError } from '../core/errors.ts';
import { assertPortFree, freePorts } from '../core/ports.ts';
import { createNode, runningPid, startNode, stopNode, waitForIntroducerFurl, type NodeRole } from './tahoe-node.ts';
import { editCfg } from './tahoe-cfg.ts';
import { dirAuthorityLines, resumeTorNetwork, startTorNetwork, stopTorNetwork, torNetworkExists } from './tor-network.ts';
import { hostTahoe, sysrootTahoe, type TahoeProgram } from './tahoe-program.ts';
import { TahoeWebApi } from './webapi.ts';

const LOCAL_FORMAT = 'sysback-local-grid/1';

const localNodeSchema = z
  .object({
    name: z.string(),
    role: z.enum(['introducer', 'storage', 'client']),
    tubPort: z.number().int().optional(),
    webPort: z.number().int().optional(),
  })
  .strict();

const localGridSchema = z
  .object({
    format: z.literal(LOCAL_FORMAT),
    /** "host" or the target root filesystem tahoe runs from */
    tahoe: z.string(),
    nodes: z.array(localNodeSchema).min(1),
    /** the second location hint's address for booted images (absent: loopback only) */
    guestAddress: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/).optional(),
    /** the private Tor network directory when the grid listens over Tor */
    torNetwork: z.string().optional(),
  })
  .strict();

export type LocalNode = z.infer<typeof localNodeSchema>;
export type LocalGrid = z.infer<typeof localGridSchema>;

export interface InitOptions {
  storage: number;
  introducers: number;
  listen: 'tcp' | 'tor';
  transport: 'mount' | 'webapi';
  name: string;
  shares?: Shares;
  /** bound for the grid to form during init, ms */
  timeoutMs: number;
  /** the tor every node uses when listen is "tor" (explicit ports, never 9050/9150) */
  tor?: { controlPort: string; socksPort: number };
  /** where tahoe comes from when the host has none (see TargetRootfsSource) */
  targetRootfs?: TargetRootfsSource;
  /** address booted images reach the grid's ports at (a second location hint); false: loopback only */
  guestAddress?: string | false;
  /** the private Tor network the grid's tor belongs to (recorded for `sysback boot --grid`) */
  torNetwork?: string;
  /** listen over Tor on a private Tor network of our own, started in D/tor (tests, demos) */
  privateTor?: boolean;
}

/** The address a booted image reaches the grid at: qemu's guestfwd address, also used in our netns. */
export const GUEST_ADDRESS = '10.0.2.100';
/** the port at GUEST_ADDRESS where a booted image finds the relay proxy of a private Tor network */
export const RELAY_PROXY_PORT = 1080;

/** tub.location of a TCP node: loopback first, then the guest address (pure). */
export function tcpLocation(port: number, guestAddress?: string): string {
  return [`tcp:127.0.0.1:${port}`, ...(guestAddress ? [`tcp:${guestAddress}:${port}`] : [])].join(',');
}

/** The loopback ports a booted image must reach for this grid's Tahoe nodes (pure). */
export function gridNodePorts(local: LocalGrid): number[] {
  return local.nodes.filter((n) => n.role !== 'client' && n.tubPort).map((n) => n.tubPort!);
}

export interface NodeStatus {
  name: string;
  role: NodeRole;
  running: boolean;
  pid?: number;
  webPort?: number;
}

export interface GridStatus {
  dir: string;
  nodes: NodeStatus[];
  /** storage servers the gateway client sees connected */
  storageConnected: number;
  storageTotal: number;
  introducersConnected: number;
}

export function gridFiles(dir: string) {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    grid: path.join(abs, 'grid.json'),
    local: path.join(abs, 'local-grid.json'),
    nodes: path.join(abs, 'nodes'),
    scratch: path.join(abs, '.sysroot'),
    node: (name: string) => path.join(abs, 'nodes', name),
    /** the private Tor network of a `--private-tor` grid */
    tor: path.join(abs, 'tor'),
  };
}

export function loadLocalGrid(dir: string): LocalGrid {
  const files = gridFiles(dir);
  if (!existsSync(files.local)) {
    throw new UserError(`${files.dir} holds no local grid`, 'create one with `sysback grid init --dir DIR`');
  }
  return loadJsonConfig(files.local, (input) => validateWith(localGridSchema, input));
}

/**
 * Where a target root filesystem comes from when the host has no tahoe: returns the path of a
 * complete tree. The host app passes builder/target-rootfs.ts (built when missing); grid/ never
 * imports the builder, so the caller decides.
 */
export type TargetRootfsSource = (ctx: Context) => Promise<string>;

/** Finds tahoe: the host's, else the one recorded, else a target root filesystem from `source`. */
async function locateTahoe(ctx: Context, recorded: string | undefined, source: TargetRootfsSource | undefined): Promise<string> {
  if (recorded === 'host' || (recorded === undefined && (await ctx.runner.which('tahoe')))) return 'host';
  if (recorded && existsSync(path.join(recorded, 'usr/bin/tahoe'))) return recorded;
  if (!source) throw new UserError('this host has no tahoe and no target root filesystem was given', 'install tahoe-lafs, or run `sysback grid` (it uses the target root filesystem)');
  ctx.log.info('this host has no tahoe: using the one from the target root filesystem');
  return source(ctx);
}

function programFor(where: string, dir: string): TahoeProgram {
  const files = gridFiles(dir);
  return where === 'host' ? hostTahoe() : sysrootTahoe(where, files.scratch, [files.dir]);
}

const gateway = (local: LocalGrid) => local.nodes.find((n) => n.role === 'client');

/** Creates the grid's nodes, starts them, creates the shared public directory, writes grid.json. */
export async function initGrid(ctx: Context, dir: string, options: InitOptions): Promise<{ grid: GridConfig; status: GridStatus }> {
  const files = gridFiles(dir);
  if (existsSync(files.grid) || existsSync(files.local)) {
    throw new UserError(`${files.dir} already holds a grid`, 'use `sysback grid start`, or choose a new directory');
  }
  if (options.listen === 'tor' && !options.tor && !options.privateTor) {
    throw new UserError('a grid on Tor needs the tor to use', 'pass --tor-control-port tcp:127.0.0.1:PORT and --tor-socks-port PORT, or --private-tor');
  }
  if (options.storage < 1 || options.introducers < 1) throw new UserError('a grid needs at least one introducer and one storage node');
  if (options.introducers < 2) ctx.log.warn('the seed recommends at least two introducers');
  const shares = options.shares ?? sharesFor(options.storage);
  if (shares.happy > options.storage) {
    throw new UserError(`shares.happy (${shares.happy}) is more than the ${options.storage} storage nodes`, 'lower --happy or add storage nodes');
  }
  const where = await locateTahoe(ctx, undefined, options.targetRootfs);
  const tahoe = programFor(where, dir);
  mkdirSync(files.nodes, { recursive: true });
  let tor = options.listen === 'tor' ? options.tor : undefined;
  let testNetwork: { dirAuthorities: string[]; socks5Proxy: string } | undefined;
  if (options.listen === 'tor' && options.privateTor) {
    const network = await ctx.log.step('starting a private Tor network on 127.0.0.1 (TestingTorNetwork, our own authorities)', () =>
      startTorNetwork(ctx.runner, files.tor, { ...(where === 'host' ? {} : { rootfs: where }), clients: 1, timeoutMs: options.timeoutMs * 2 }),
    );
    tor = network.clients[0]!;
    options = { ...options, torNetwork: files.tor };
    // a booted image's tor reaches the relays (on the host's 127.0.0.1) through the relay proxy that
    // `sysback boot` runs and leads the guest's GUEST_ADDRESS:RELAY_PROXY_PORT to (builder/relay-proxy.ts)
    testNetwork = { dirAuthorities: dirAuthorityLines(files.tor), socks5Proxy: `${GUEST_ADDRESS}:${RELAY_PROXY_PORT}` };
  }

  const ports = await freePorts(options.introducers + options.storage * 2 + 1);
  const take = () => ports.shift()!;
  // over Tor, tahoe picks each node's local onion port itself (create-* --listen=tor)
  const tubPort = () => (tor ? {} : { tubPort: take() });
  const nodes: LocalNode[] = [];
  for (let i = 1; i <= options.introducers; i++) nodes.push({ name: `introducer-${i}`, role: 'introducer', ...tubPort() });
  for (let i = 1; i <= options.storage; i++) nodes.push({ name: `storage-${i}`, role: 'storage', ...tubPort(), webPort: take() });
  nodes.push({ name: 'gateway', role: 'client', webPort: take() });
  const guestAddress = tor || options.guestAddress === false ? undefined : (options.guestAddress ?? GUEST_ADDRESS);
  const local: LocalGrid = {
    format: LOCAL_FORMAT,
    tahoe: where,
    nodes,
    ...(guestAddress ? { guestAddress } : {}),
    ...(tor && options.torNetwork ? { torNetwork: path.resolve(options.torNetwork) } : {}),
  };
  // a second hint, so guests reach the node too; set before the first start (the fURL carries it)
  const addGuestHint = (node: LocalNode) => {
    if (guestAddress && node.tubPort) editCfg(files.node(node.name), [['node', 'tub.location', tcpLocation(node.tubPort, guestAddress)]]);
  };
  writeFileSync(files.local, JSON.stringify(local, null, 2) + '\n');

  // A failed init stops what it started: no orphan node outlives it.
  try {
    const introducers: Array<{ name: string; furl: string }> = [];
    await ctx.log.step(`creating ${options.introducers} introducers`, async () => {
      for (const node of nodes.filter((n) => n.role === 'introducer')) {
        await createNode(ctx.runner, tahoe, { dir: files.node(node.name), role: 'introducer', nickname: node.name, listen: tor ? { kind: 'tor' } : { kind: 'tcp', port: node.tubPort! }, ...(tor ? { tor } : {}) });
        addGuestHint(node);
        await startNode(ctx.runner, tahoe, files.node(node.name));
      }
      for (const node of nodes.filter((n) => n.role === 'introducer')) {
        introducers.push({ name: node.name.replace(/-/g, '_'), furl: await waitForIntroducerFurl(files.node(node.name), 60_000) });
      }
    });
    await ctx.log.step(`creating ${options.storage} storage nodes and the gateway`, async () => {
      for (const node of nodes.filter((n) => n.role !== 'introducer')) {
        await createNode(ctx.runner, tahoe, {
          dir: files.node(node.name),
          role: node.role,
          nickname: node.name,
          listen: node.role === 'storage' ? (tor ? { kind: 'tor' } : { kind: 'tcp', port: node.tubPort! }) : { kind: 'none' },
          ...(tor ? { tor } : {}),
          webPort: node.webPort,
          shares,
          introducers,
          reservedSpace: '1G',
        });
        addGuestHint(node);
      }
    });
    await startGrid(ctx, dir, { timeoutMs: options.timeoutMs, tahoe, local });
    const api = new TahoeWebApi(gateway(local)!.webPort!);
    const publicDirectory = await ctx.log.step('creating the shared public directory', () => api.mkdir());
    const grid: GridConfig = {
      format: GRID_FORMAT,
      name: options.name,
      introducers,
      publicDirectory,
      shares,
      listen: options.listen,
      transport: options.transport,
      ...(tor ? { tor: { controlPort: tor.controlPort, socksPort: tor.socksPort, ...(testNetwork ? { testNetwork } : {}) } } : {}),
    };
    const valid = validateGridConfig(grid);
    if (!valid.ok) throw new SysbackError(`internal: generated grid.json is invalid: ${JSON.stringify(valid.problems)}`);
    writeFileSync(files.grid, JSON.stringify(grid, null, 2) + '\n', { mode: 0o644 });
    return { grid, status: await gridStatus(dir) };
  } catch (error) {
    await stopGrid(dir).catch(() => {});
    await stopTorNetwork(files.tor).catch(() => {});
    throw error;
  }
}

/** Over Tor: how long the gateway may take to see every storage server before it is restarted once. */
const TOR_RECONNECT_MS = 90_000;

/** Whether the node at `nodeDir` reaches the grid over Tor (its tahoe.cfg says `tcp = tor`). */
function overTor(nodeDir: string): boolean {
  try {
    return /^\s*tcp\s*=\s*tor\s*$/m.test(readFileSync(path.join(nodeDir, 'tahoe.cfg'), 'utf8'));
  } catch {
    return false;
  }
}

/** Starts every node that is not running, then waits until the gateway sees all storage nodes. */
export async function startGrid(
  ctx: Context,
  dir: string,
  options: { timeoutMs: number; tahoe?: TahoeProgram; local?: LocalGrid; targetRootfs?: TargetRootfsSource },
): Promise<GridStatus> {
  const files = gridFiles(dir);
  const local = options.local ?? loadLocalGrid(dir);
  const where = local.tahoe;
  const tahoe = options.tahoe ?? programFor(await locateTahoe(ctx, local.tahoe, options.targetRootfs), dir);
  if (local.torNetwork && torNetworkExists(local.torNetwork)) {
    await ctx.log.step('starting the private Tor network', () => resumeTorNetwork(ctx.runner, local.torNetwork!, { ...(where === 'host' ? {} : { rootfs: where }) }));
  }
  const started = Date.now();
  const order: NodeRole[] = ['introducer', 'storage', 'client'];
  // Preflight before starting anything: a missing node or a taken port fails the whole start cleanly.
  const toStart = local.nodes.filter((node) => !runningPid(files.node(node.name)));
  for (const node of toStart) {
    if (!existsSync(path.join(files.node(node.name), 'tahoe.cfg'))) {
      throw new UserError(`node ${node.name} is missing from ${files.nodes}`, 'the grid directory is damaged; create a new grid');
    }
    for (const port of [node.tubPort, node.webPort]) if (port) await assertPortFree(port, `node ${node.name}`);
  }
  for (const role of order) {
    for (const node of toStart.filter((n) => n.role === role)) await startNode(ctx.runner, tahoe, files.node(node.name));
  }
  const storageTotal = local.nodes.filter((n) => n.role === 'storage').length;
  const api = new TahoeWebApi(gateway(local)!.webPort!);
  await api.waitUntilUp(options.timeoutMs);
  const remaining = () => Math.max(1000, options.timeoutMs - (Date.now() - started));
  try {
    if (overTor(files.node(gateway(local)!.name)) && options.timeoutMs > 2 * TOR_RECONNECT_MS) {
      // Over Tor an early failed attempt (a stale onion descriptor) puts foolscap into exponential
      // reconnect back-off (minutes: notes/tor-testnet.md §7 pitfall 4); a restarted gateway
      // reconnects at once, so after a bounded first wait it is restarted once, by its PID.
      const first = await api.waitForServers(storageTotal, TOR_RECONNECT_MS).then(() => true, (error: unknown) => {
        if (error instanceof TooFewServersError) return false;
        throw error;
      });
      if (!first) {
        const node = gateway(local)!;
        ctx.log.info(`only some storage servers are connected after ${TOR_RECONNECT_MS / 1000} s over Tor: restarting ${node.name} to skip its reconnect back-off`);
        await stopNode(files.node(node.name));
        await startNode(ctx.runner, tahoe, files.node(node.name));
        await api.waitUntilUp(remaining());
      }
    }
    await api.waitForServers(storageTotal, remaining());
  } catch (error) {
    if (error instanceof TooFewServersError) {
      const status = await gridStatus(dir);
      const down = status.nodes.filter((n) => !n.running).map((n) => n.name);
      throw new SysbackError(`${error.message}${down.length ? `; not running: ${down.join(', ')}` : ''}`, {
        hint: `see the node logs in ${files.nodes}`,
        exitCode: error.exitCode,
      });
    }
    throw error;
  }
  ctx.log.info(`grid up: ${storageTotal} storage servers connected after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return gridStatus(dir);
}

/** Stops every running node of the grid by PID, clients first, introducers last. */
export async function stopGrid(dir: string): Promise<string[]> {
  const files = gridFiles(dir);
  const local = loadLocalGrid(dir);
  const stopped: string[] = [];
  const order: NodeRole[] = ['client', 'storage', 'introducer'];
  for (const role of order) {
    await Promise.all(
      local.nodes
        .filter((n) => n.role === role)
        .map(async (node) => {
          if (await stopNode(files.node(node.name))) stopped.push(node.name);
        }),
    );
  }
  if (local.torNetwork && (await stopTorNetwork(local.torNetwork)) > 0) stopped.push('the private Tor network');
  rmSync(files.scratch, { recursive: true, force: true });
  return stopped;
}

export async function gridStatus(dir: string): Promise<GridStatus> {
  const files = gridFiles(dir);
  const local = loadLocalGrid(dir);
  const nodes: NodeStatus[] = local.nodes.map((node) => {
    const pid = runningPid(files.node(node.name));
    return { name: node.name, role: node.role, running: pid !== undefined, ...(pid ? { pid } : {}), ...(node.webPort ? { webPort: node.webPort } : {}) };
  });
  let storageConnected = 0;
  let introducersConnected = 0;
  const gw = gateway(local);
  if (gw?.webPort && nodes.find((n) => n.name === gw.name)?.running) {
    const api = new TahoeWebApi(gw.webPort);
    try {
      storageConnected = await api.connectedServers();
      introducersConnected = (await api.introducers()).connected;
    } catch {
      // a gateway still starting counts as seeing nothing
    }
  }
  return {
    dir: files.dir,
    nodes,
    storageConnected,
    storageTotal: local.nodes.filter((n) => n.role === 'storage').length,
    introducersConnected,
  };
}

/** The gateway's web API, for tests and the bench. */
export function gatewayApi(dir: string): TahoeWebApi {
  const local = loadLocalGrid(dir);
  return new TahoeWebApi(gateway(local)!.webPort!);
}

export function readGridJson(dir: string): GridConfig {
  return loadJsonConfig(gridFiles(dir).grid, validateGridConfig);
}


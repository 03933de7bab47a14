// Owns the `sysback grid` commands (init, start, stop, status) for the operator of a local grid: host
// only, in the host app. Declarations only: each action loads grid/local-grid.ts when it runs.
// stdout carries data (`--json`), stderr carries progress for people.
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';
import type { GridStatus, TargetRootfsSource } from './local-grid.ts';

export interface GridCommandDeps {
  /** where tahoe comes from when the host has none (the host app passes the builder's rootfs) */
  targetRootfs: TargetRootfsSource;
}

const loadGrid = () => import('./local-grid.ts');
const loadContext = async () => (await import('../core/context.ts')).createContext;

function int(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UserError(`--${name} must be a whole number, not "${value}"`);
    return n;
  };
}

function printStatus(status: GridStatus, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(status, null, 2) + '\n');
    return;
  }
  for (const node of status.nodes) {
    const web = node.webPort ? `  web 127.0.0.1:${node.webPort}` : '';
    process.stdout.write(`${node.name.padEnd(14)} ${node.role.padEnd(11)} ${node.running ? `running (pid ${node.pid})` : 'stopped'}${web}\n`);
  }
  process.stdout.write(`storage servers connected: ${status.storageConnected}/${status.storageTotal}\n`);
}

export function registerGridCommands(program: Command, deps: GridCommandDeps): void {
  const grid = program.command('grid').description('create and run a local Tahoe-LAFS grid (introducers, storage nodes, public directory)');

  grid
    .command('init')
    .description('create a grid: introducers, storage nodes, a gateway client and the shared public directory; writes grid.json and leaves the grid running')
    .requiredOption('--dir <dir>', 'directory for the grid (grid.json, node directories)')
    .option('--storage <n>', 'storage nodes', int('storage'), 3)
    .option('--introducers <n>', 'introducers (the seed asks for at least two)', int('introducers'), 2)
    .option('--listen <how>', 'how nodes listen: tcp (127.0.0.1) or tor', 'tcp')
    .option('--transport <kind>', 'device transport written to grid.json: mount or webapi', 'webapi')
    .option('--name <name>', 'grid name', 'demo')
    .option('--timeout <seconds>', 'bound for the grid to form', int('timeout'), 120)
    .option('--tor-control-port <endpoint>', 'with --listen tor: the tor control port, tcp:127.0.0.1:PORT (never a default port)')
    .option('--tor-socks-port <port>', "with --listen tor: that tor's SOCKS port (a bare number)", int('tor-socks-port'))
    .option('--private-tor', 'with --listen tor: start a private Tor network of our own on 127.0.0.1 (TestingTorNetwork, loopback authorities; tests and demos) and use it')
    .option('--no-guest-hint', 'TCP grids: announce 127.0.0.1 only (by default nodes also announce 10.0.2.100, which `sysback boot --grid` leads to them)')
    .option('--json', 'print the status as JSON')
    .action(async (options) => {
      if (!['tcp', 'tor'].includes(options.listen)) throw new UserError(`--listen must be tcp or tor, not "${options.listen}"`);
      if (options.listen === 'tor' && !options.privateTor && (!options.torControlPort || !options.torSocksPort)) {
        throw new UserError('--listen tor needs --tor-control-port and --tor-socks-port, or --private-tor', 'point them at a tor you run, never at a default port');
      }
      if (!['mount', 'webapi'].includes(options.transport)) throw new UserError(`--transport must be mount or webapi`);
      const [{ initGrid }, createContext] = await Promise.all([loadGrid(), loadContext()]);
      const ctx = createContext();
      const { status } = await initGrid(ctx, options.dir, {
        targetRootfs: deps.targetRootfs,
        storage: options.storage,
        introducers: options.introducers,
        listen: options.listen,
        transport: options.transport,
        name: options.name,
        timeoutMs: options.timeout * 1000,
        ...(options.guestHint === false ? { guestAddress: false as const } : {}),
        ...(options.listen === 'tor' && options.privateTor ? { privateTor: true } : {}),
        ...(options.listen === 'tor' && !options.privateTor ? { tor: { controlPort: options.torControlPort, socksPort: options.torSocksPort } } : {}),
      });
      ctx.log.info(`grid created in ${status.dir}; grid.json is ready; stop it with: sysback grid stop --dir ${options.dir}`);
      printStatus(status, Boolean(options.json));
    });

  grid
    .command('start')
    .description('start every node of the grid and wait until all storage nodes are connected')
    .requiredOption('--dir <dir>', 'the grid directory')
    .option('--timeout <seconds>', 'bound for all storage nodes to connect', int('timeout'), 120)
    .option('--json', 'print the status as JSON')
    .action(async (options) => {
      const [{ startGrid }, createContext] = await Promise.all([loadGrid(), loadContext()]);
      const ctx = createContext();
      printStatus(await startGrid(ctx, options.dir, { timeoutMs: options.timeout * 1000, targetRootfs: deps.targetRootfs }), Boolean(options.json));
    });

  grid
    .command('stop')
    .description('stop every node of the grid by its PID')
    .requiredOption('--dir <dir>', 'the grid directory')
    .action(async (options) => {
      const { stopGrid } = await loadGrid();
      const stopped = await stopGrid(options.dir);
      process.stderr.write(stopped.length ? `stopped: ${stopped.join(', ')}\n` : 'nothing was running\n');
    });

  grid
    .command('status')
    .description('show which nodes run and how many storage servers a client sees')
    .requiredOption('--dir <dir>', 'the grid directory')
    .option('--json', 'print the status as JSON')
    .action(async (options) => {
      const { gridStatus } = await loadGrid();
      printStatus(await gridStatus(options.dir), Boolean(options.json));
    });
}

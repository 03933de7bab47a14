// Owns `sysback node start|stop|status`: runs the device's two Tahoe nodes where no systemd does (a
// chroot, a test, a laptop with --root), stopping them by PID. Declarations only: each action loads
// grid/device-nodes.ts and the device config when it runs.
import type { Command } from 'commander';
import type { Area } from '../core/device-paths.ts';
import { UserError } from '../core/errors.ts';

async function load() {
  const [{ createContext }, { readDeviceConfig }, nodes] = await Promise.all([
    import('../core/context.ts'),
    import('../core/config/device-config.ts'),
    import('./device-nodes.ts'),
  ]);
  return { createContext, readDeviceConfig, ...nodes };
}

function areasOf(value: string | undefined, all: readonly Area[]): readonly Area[] {
  if (value === undefined || value === 'all') return all;
  if (value === 'private' || value === 'public') return [value];
  throw new UserError(`unknown node "${value}"`, 'use private, public or all');
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description("run the router's Tahoe nodes (private, public) where no systemd runs them");
  node
    .command('start [which]')
    .description('start the private and public nodes (or one of them) and wait until their web API answers')
    .option('--root <dir>', 'device root', '/')
    .action(async (which: string | undefined, options) => {
      const { createContext, readDeviceConfig, startDeviceNode, AREAS } = await load();
      const ctx = createContext({ root: options.root });
      const config = readDeviceConfig(ctx);
      for (const area of areasOf(which, AREAS)) await startDeviceNode(ctx, config, area);
    });
  node
    .command('wait-tor')
    .description("wait until the system tor reports bootstrap 100 % (sysback-tahoe@ runs this before starting a node, on every boot)")
    .option('--root <dir>', 'device root', '/')
    .option('--control-port <endpoint>', "the tor's control port (default: the device config's grid.tor.controlPort)")
    .option('--timeout <seconds>', 'give up after this long', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new UserError(`--timeout must be a positive whole number of seconds, not "${v}"`);
      return n;
    }, 600)
    .action(async (options: { root: string; controlPort?: string; timeout: number }) => {
      const [{ createContext }, { waitForTorAt }] = await Promise.all([import('../core/context.ts'), import('./tor-ready.ts')]);
      await waitForTorAt(createContext({ root: options.root }), options.controlPort, options.timeout * 1000);
    });
  node
    .command('stop [which]')
    .description('stop the nodes by PID')
    .option('--root <dir>', 'device root', '/')
    .action(async (which: string | undefined, options) => {
      const { createContext, stopDeviceNode, AREAS } = await load();
      const ctx = createContext({ root: options.root });
      for (const area of areasOf(which, AREAS)) await stopDeviceNode(ctx, area);
    });
  node
    .command('status')
    .description('which nodes run, and how many storage servers each sees')
    .option('--root <dir>', 'device root', '/')
    .option('--json', 'print JSON')
    .action(async (options) => {
      const { createContext, readDeviceConfig, deviceNodeRunning, nodeApi, AREAS } = await load();
      const ctx = createContext({ root: options.root });
      const config = readDeviceConfig(ctx);
      const out = [];
      for (const area of AREAS) {
        const running = await deviceNodeRunning(ctx, area);
        const servers = running ? await nodeApi(config, area).connectedServers().catch(() => 0) : 0;
        out.push({ area, running, serversConnected: servers });
      }
      if (options.json) process.stdout.write(JSON.stringify({ nodes: out }, null, 2) + '\n');
      else for (const n of out) process.stdout.write(`${n.area.padEnd(8)} ${n.running ? 'running' : 'stopped'}  servers: ${n.serversConnected}\n`);
    });
}

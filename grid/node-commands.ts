// Owns `sysback node start|stop|status`: runs the device's two Tahoe nodes where no systemd does (a
// chroot, a test, a laptop with --root), stopping them by PID.
import type { Command } from 'commander';
import { createContext } from '../core/context.ts';
import { readDeviceConfig } from '../core/config/device-config.ts';
import type { Area } from '../core/device-paths.ts';
import { UserError } from '../core/errors.ts';
import { AREAS, deviceNodeRunning, nodeApi, startDeviceNode, stopDeviceNode } from './device-nodes.ts';

function areasOf(value: string | undefined): readonly Area[] {
  if (value === undefined || value === 'all') return AREAS;
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
      const ctx = createContext({ root: options.root });
      const config = readDeviceConfig(ctx);
      for (const area of areasOf(which)) await startDeviceNode(ctx, config, area);
    });
  node
    .command('stop [which]')
    .description('stop the nodes by PID')
    .option('--root <dir>', 'device root', '/')
    .action(async (which: string | undefined, options) => {
      const ctx = createContext({ root: options.root });
      for (const area of areasOf(which)) await stopDeviceNode(ctx, area);
    });
  node
    .command('status')
    .description('which nodes run, and how many storage servers each sees')
    .option('--root <dir>', 'device root', '/')
    .option('--json', 'print JSON')
    .action(async (options) => {
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

// Owns the Device: the grid side of one router, as the flows (configure, recover, the backup run,
// status) see it: its config, a typed Tahoe client per area (private, public), its two nodes
// (create, start, stop, wait for shares.happy, the SFTP frontend the mount transport needs) and its
// transports. Flows receive a Device (`DeviceContext`) and never construct a client or a transport
// themselves. `createDevice(ctx)` is the real one (the device config under ctx.root, the tahoe CLI,
// systemd or PIDs, the web API on 127.0.0.1, sshfs + rsync); a unit test's Device
// (test/support/memory-device.ts) is the same interface over grid/memory-grid.ts.
// Contract: `config()` reads the device config afresh (recovery restores it mid-flow); `client(area)`
// never starts anything; `nodes.start(area)` returns once the node's web API answers;
// `nodes.waitForHappy` is bounded by the config's serverWaitSeconds and logs how many servers it sees.
import { existsSync } from 'node:fs';
import type { Context } from '../core/context.ts';
import { readDeviceConfig, type DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE, type Area } from '../core/device-paths.ts';
import { NotConfiguredError } from '../core/errors.ts';
import { deviceNodeRunning, ensureDeviceNode, nodeApi, nodeDir, startDeviceNode, stopDeviceNode, waitForHappy } from './device-nodes.ts';
import { createMountTransport } from './mount-transport.ts';
import { enableSftpFrontend, sftpFiles } from './sftp-frontend.ts';
import type { EncryptOptions } from './identity.ts';
import type { TahoeClient } from './tahoe-client.ts';
import type { Transport, TransportKind } from './transport.ts';
import { createWebApiTransport } from './webapi-transport.ts';

/** The SFTP account name the device's nodes use for their own areas. */
export const SFTP_USER = 'sysback';

export interface DeviceNodes {
  /** Creates the area's node unless it exists (keys kept); refreshes its introducers either way. */
  ensure(area: Area, nickname: string): Promise<'created' | 'existing'>;
  /** Starts the node; resolves with its client once its web API answers. */
  start(area: Area): Promise<TahoeClient>;
  stop(area: Area): Promise<boolean>;
  running(area: Area): Promise<boolean>;
  /** Waits for shares.happy connected storage servers (bounded); how many are connected. */
  waitForHappy(client: TahoeClient): Promise<number>;
  /** Gives the area's node an SFTP frontend rooted at `rootCap` (mount transport); true when it was added (the node must restart). */
  enableSftp(area: Area, rootCap: string): Promise<boolean>;
}

export interface Device {
  /** the device config (/etc/sysback/sysback.json under the root), read afresh */
  config(): DeviceConfig;
  /** the Tahoe client of an area's node (nothing started) */
  client(area: Area): TahoeClient;
  nodes: DeviceNodes;
  /** a transport to the area, for files under `rootCap` */
  transport(kind: TransportKind, area: Area, rootCap: string): Transport;
  /** how identity files are encrypted: unset on a real router (RFC 9580's Argon2id defaults, always); a unit test's Device makes Argon2id cheap */
  identityEncryption?: EncryptOptions;
}

/** The context a flow runs in: the core context plus the router's Device. */
export interface DeviceContext extends Context {
  device: Device;
}

export function withDevice(ctx: Context, device: Device = createDevice(ctx)): DeviceContext {
  return { ...ctx, device };
}

/** The Device of `ctx` when it carries one, else the real one for its root. */
export function deviceOf(ctx: Context | DeviceContext): Device {
  return 'device' in ctx && ctx.device ? ctx.device : createDevice(ctx);
}

/** The real Device: the tahoe CLI, systemd or PIDs, the node's web API, sshfs + rsync. */
export function createDevice(ctx: Context): Device {
  const config = () => readDeviceConfig(ctx);
  const client = (area: Area): TahoeClient => nodeApi(config(), area);
  return {
    config,
    client,
    nodes: {
      ensure: (area, nickname) => ensureDeviceNode(ctx, config(), area, nickname),
      start: (area) => startDeviceNode(ctx, config(), area),
      stop: (area) => stopDeviceNode(ctx, area),
      running: (area) => deviceNodeRunning(ctx, area),
      waitForHappy: (api) => waitForHappy(ctx, config(), api),
      async enableSftp(area, rootCap) {
        const dir = nodeDir(ctx, area);
        if (existsSync(sftpFiles(dir).clientKey)) return false;
        await enableSftpFrontend(ctx.runner, dir, { port: config().tahoe.sftpPorts[area], user: SFTP_USER, rootCap });
        return true;
      },
    },
    transport(kind, area, rootCap) {
      const current = config();
      const api = nodeApi(current, area);
      if (kind === 'webapi') return createWebApiTransport(api);
      const files = sftpFiles(nodeDir(ctx, area));
      if (!existsSync(files.clientKey)) {
        throw new NotConfiguredError(`the ${area} node has no SFTP frontend for the mount transport`, 'run sysback configure again, or use --transport webapi');
      }
      return createMountTransport({
        api,
        runner: ctx.runner,
        sftpPort: current.tahoe.sftpPorts[area],
        user: SFTP_USER,
        keyFile: files.clientKey,
        knownHostsFile: files.knownHosts,
        mountPoint: ctx.path(DEVICE.mount(area)),
        rootCap,
        spoolDir: ctx.path(DEVICE.stateDir),
        log: ctx.log,
      });
    },
  };
}

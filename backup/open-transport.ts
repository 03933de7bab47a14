// Owns choosing and opening the transport to one of the router's areas from the device config
// (DESIGN §4.2): `webapi` streams to the node's web API; `mount` is the seed's way (the node's SFTP
// frontend mounted with sshfs at /var/lib/sysback/mnt/AREA, files copied with rsync).
import { existsSync } from 'node:fs';
import type { Context } from '../core/context.ts';
import type { DeviceConfig } from '../core/config/device-config.ts';
import { DEVICE, type Area } from '../core/device-paths.ts';
import { NotConfiguredError } from '../core/errors.ts';
import { nodeApi, nodeDir } from '../grid/device-nodes.ts';
import { createMountTransport } from '../grid/mount-transport.ts';
import { sftpFiles } from '../grid/sftp-frontend.ts';
import type { Transport, TransportKind } from '../grid/transport.ts';
import { createWebApiTransport } from '../grid/webapi-transport.ts';

/** The SFTP account name the device's nodes use for their own areas. */
export const SFTP_USER = 'sysback';

export function openTransport(ctx: Context, config: DeviceConfig, kind: TransportKind, area: Area, rootCap: string): Transport {
  const api = nodeApi(config, area);
  if (kind === 'webapi') return createWebApiTransport(api);
  const files = sftpFiles(nodeDir(ctx, area));
  if (!existsSync(files.clientKey)) {
    throw new NotConfiguredError(`the ${area} node has no SFTP frontend for the mount transport`, 'run sysback configure again, or use --transport webapi');
  }
  return createMountTransport({
    api,
    runner: ctx.runner,
    sftpPort: config.tahoe.sftpPorts[area],
    user: SFTP_USER,
    keyFile: files.clientKey,
    knownHostsFile: files.knownHosts,
    mountPoint: ctx.path(DEVICE.mount(area)),
    rootCap,
    spoolDir: ctx.path(DEVICE.stateDir),
  });
}

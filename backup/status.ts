// Owns `sysback status`: how fresh the last good backup is, how many generations the private area
// keeps, how many storage servers the private node sees, and the warning the login banner shows
// when the last good backup is older than twice the backup interval (DESIGN §4.4).
import type { Context } from '../core/context.ts';
import { readDeviceConfig } from '../core/config/device-config.ts';
import { readState } from '../core/state.ts';
import { nodeApi, readAliases, ALIAS_PRIVATE } from '../grid/device-nodes.ts';
import { readManifest } from './run-backup.ts';

export interface DeviceStatus {
  configured: boolean;
  alias?: string;
  mode?: 'new' | 'recover';
  lastGoodBackup?: { time: string; sha256: string; size: number; ageHours: number; generation?: string };
  generations?: { count: number; newest?: string };
  grid: { reachable: boolean; serversConnected?: number; happy: number };
  intervalHours: number;
  stale: boolean;
  warning?: string;
}

/** Pure: is a backup of `ageHours` stale for an interval of `intervalHours`? */
export function isStale(ageHours: number | undefined, intervalHours: number): boolean {
  return ageHours === undefined || ageHours > 2 * intervalHours;
}

export async function deviceStatus(ctx: Context, options: { offline?: boolean } = {}): Promise<DeviceStatus> {
  const config = readDeviceConfig(ctx);
  const state = readState(ctx);
  const intervalHours = config.backup.intervalHours;
  const last = state?.lastGoodBackup;
  const ageHours = last ? (ctx.clock.now().getTime() - Date.parse(last.time)) / 3_600_000 : undefined;
  const status: DeviceStatus = {
    configured: state !== undefined,
    ...(state ? { alias: state.alias, mode: state.mode } : {}),
    ...(last && ageHours !== undefined
      ? { lastGoodBackup: { time: last.time, sha256: last.sha256, size: last.size, ageHours: Math.round(ageHours * 10) / 10, ...(last.generation ? { generation: last.generation } : {}) } }
      : {}),
    grid: { reachable: false, happy: config.grid.shares.happy },
    intervalHours,
    stale: state !== undefined && isStale(ageHours, intervalHours),
  };
  if (status.stale) {
    status.warning = last
      ? `WARNING: the last good backup is ${Math.floor(ageHours! / 24)} days old (backups run every ${intervalHours} h); check: sysback backup`
      : 'WARNING: this router has no good backup yet; run: sysback backup';
  }
  if (options.offline) return status;
  const api = nodeApi(config, 'private');
  if (await api.isUp()) {
    status.grid.reachable = true;
    status.grid.serversConnected = await api.connectedServers().catch(() => 0);
    const cap = readAliases(ctx)[ALIAS_PRIVATE];
    if (cap) {
      const manifest = await readManifest(api, cap).catch(() => undefined);
      if (manifest) status.generations = { count: manifest.generations.length, ...(manifest.generations[0] ? { newest: manifest.generations[0].name } : {}) };
    }
  }
  return status;
}

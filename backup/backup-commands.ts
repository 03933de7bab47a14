// Owns the `sysback backup` and `sysback status` commands (cron and the login banner use them).
import type { Command } from 'commander';
import { createContext } from '../core/context.ts';
import { UserError } from '../core/errors.ts';
import { loadBackupList } from './files-list.ts';
import { runBackup } from './run-backup.ts';
import { readDeviceConfig } from '../core/config/device-config.ts';
import { readState } from '../core/state.ts';
import type { Context } from '../core/context.ts';
import { deviceStatus } from './status.ts';

function transportOption(value: string | undefined) {
  if (value === undefined) return undefined;
  if (value !== 'mount' && value !== 'webapi') throw new UserError(`--transport must be mount or webapi, not "${value}"`);
  return value;
}

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description('back the files in /etc/sysback/files.txt up to the private area, verify it, keep generations, renew leases')
    .option('--root <dir>', 'device root', '/')
    .option('--transport <kind>', 'mount (SFTP + sshfs + rsync) or webapi; default from sysback.json')
    .option('--list', 'print what would be saved, one device path per line, and write nothing')
    .option('--force', 'upload even when nothing changed')
    .option('--if-due', 'only when the last good backup is older than backup.intervalHours (what cron runs hourly)')
    .option('--json', 'print the result as JSON')
    .action(async (options) => {
      const ctx = createContext({ root: options.root });
      if (options.list) {
        const list = await loadBackupList(ctx);
        process.stdout.write(list.entries.map((e) => `${e}\n`).join(''));
        return;
      }
      if (options.ifDue && !backupDue(ctx)) {
        ctx.log.info('no backup due yet');
        return;
      }
      const transport = transportOption(options.transport);
      const result = await runBackup(ctx, { ...(transport ? { transport } : {}), force: Boolean(options.force) });
      if (options.json) {
        process.stdout.write(JSON.stringify({ status: result.status, generation: result.generation?.name, latest: result.latest, pruned: result.pruned, transport: result.transport }, null, 2) + '\n');
      }
    });

  program
    .command('status')
    .description('show the last good backup, the generations kept and the grid servers connected')
    .option('--root <dir>', 'device root', '/')
    .option('--json', 'print the status as JSON')
    .option('--warn-only', 'print only a warning when the last good backup is stale (for the login banner); never touch the grid')
    .action(async (options) => {
      const ctx = createContext({ root: options.root });
      const status = await deviceStatus(ctx, { offline: Boolean(options.warnOnly) });
      if (options.warnOnly) {
        if (status.warning) process.stdout.write(`${status.warning}\n`);
        return;
      }
      if (options.json) {
        process.stdout.write(JSON.stringify(status, null, 2) + '\n');
        return;
      }
      const lines = [
        `configured: ${status.configured ? `yes (${status.mode}, alias ${status.alias})` : 'no'}`,
        `last good backup: ${status.lastGoodBackup ? `${status.lastGoodBackup.time} (${status.lastGoodBackup.ageHours} h ago, ${status.lastGoodBackup.size} bytes)` : 'none'}`,
        `generations: ${status.generations ? status.generations.count : 'unknown (private node not running)'}`,
        `grid: ${status.grid.reachable ? `${status.grid.serversConnected} servers connected (${status.grid.happy} needed)` : 'private node not running'}`,
      ];
      if (status.warning) lines.push(status.warning);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

/** Due when there is no good backup yet, or the last one is at least one interval old. */
export function backupDue(ctx: Context): boolean {
  const last = readState(ctx)?.lastGoodBackup;
  if (!last) return true;
  const ageHours = (ctx.clock.now().getTime() - Date.parse(last.time)) / 3_600_000;
  return ageHours >= readDeviceConfig(ctx).backup.intervalHours;
}

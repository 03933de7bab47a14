// Owns the `sysback backup` and `sysback status` commands (cron and the login banner use them).
// Declarations only: each action loads what it needs when it runs. Cron's hourly `backup --if-due`
// with nothing due loads the state and the device config (backup/backup-due.ts) and stops there: no
// process gateway, transport, archive or grid code (docs/architecture.md "Layers").
import type { Command } from 'commander';
import { UserError } from '../core/errors.ts';

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
      const transport = transportOption(options.transport);
      if (options.ifDue && !options.list) {
        // the hourly question first, before anything else is loaded
        // (core/context.ts would load the process gateway, which a "not yet" never uses)
        const [{ backupDue }, { underRoot }, { createLog }] = await Promise.all([
          import('./backup-due.ts'),
          import('../core/device-paths.ts'),
          import('../core/log.ts'),
        ]);
        if (!(await backupDue({ path: (p) => underRoot(options.root, p), clock: { now: () => new Date() } }))) {
          createLog().info('no backup due yet');
          return;
        }
      }
      const { createContext } = await import('../core/context.ts');
      const ctx = createContext({ root: options.root });
      if (options.list) {
        const { loadBackupList } = await import('./files-list.ts');
        const list = await loadBackupList(ctx);
        process.stdout.write(list.entries.map((e) => `${e}\n`).join(''));
        return;
      }
      const { runBackup } = await import('./run-backup.ts');
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
      const [{ createContext }, { deviceStatus, describeScheduled }] = await Promise.all([import('../core/context.ts'), import('./status.ts')]);
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
        ...(status.lastGoodBackup?.placement
          ? [`survives the loss of this router: ${status.lastGoodBackup.placement.distinctShares} distinct shares on ${status.lastGoodBackup.placement.otherServers} other servers (${status.lastGoodBackup.placement.needed} needed), ${status.lastGoodBackup.placement.ownShares} on this router`]
          : []),
        describeScheduled('full verification', status.verify),
        describeScheduled('lease renewal', status.leases),
        `generations: ${status.generations ? status.generations.count : 'unknown (private node not running)'}`,
        `grid: ${status.grid.reachable ? `${status.grid.serversConnected} servers connected (${status.grid.happy} needed)` : 'private node not running'}`,
      ];
      if (status.warning) lines.push(status.warning);
      process.stdout.write(lines.join('\n') + '\n');
    });
}

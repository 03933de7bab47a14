// Owns the schema of /etc/sysback/sysback.json, the device config: the grid to join and how this
// router backs up to it. Rendered by the builder (overlays/base/etc/sysback/sysback.json.mustache),
// seeded by `--grid` when a root has none, read by every device command. Contract: one pure validator
// reporting every problem with its path; every field the template does not render has a default, so a
// rendered file and `deviceConfigFromGrid(grid)` both validate to the same complete shape.
//
// Fields:
//   format                      "sysback-device/1"
//   grid                        the grid.json this router joins (core/config/grid-config.ts)
//   transport                   "mount" (SFTP + sshfs + rsync, the seed's way) or "webapi" (HTTP)
//   backup.intervalHours        hours between periodic backups (cron), default 240 (the seed's); from
//                               1/60 (a minute) to 480, fractions allowed
//   backup.retention            generations kept in archives/, default 5
//   backup.verifyIntervalDays   days between full share verifications (`check --verify`) of what
//                               recovery reads, default 30 (every run reads the archive back anyway)
//   backup.leaseIntervalDays    days between lease renewals (deep check + add-lease + repair), default 7:
//                               Tahoe's leases last 31 days, so a renewal is due four times inside one
//                               (docs/architecture.md, "Verification and leases on their own schedule")
//   tahoe.reservedSpace         the private node's storage reserved_space, default "1G" (Tahoe honours
//                               it for immutable shares only: directories' mutable shares are taken
//                               whatever the reserve)
//   tahoe.offerStorage          the private node is a storage server for the grid, default true
//                               (DESIGN §4.1); false for a router with no disk to spare: it still
//                               backs up, every share of it then on other servers
//   tahoe.webPorts              the two nodes' web API ports on 127.0.0.1, default 3456 / 3457
//   tahoe.sftpPorts             the two nodes' SFTP frontends on 127.0.0.1 (mount), default 8022 / 8023
//   tahoe.serverWaitSeconds     how long to wait for shares.happy servers before failing, default 300
//   tahoe.tubPort               the private node's storage port on 127.0.0.1 when the grid listens on
//                               plain TCP (tests, demo); unused over Tor (onion service), default 3458
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../atomic-write.ts';
import type { Context } from '../context.ts';
import { DEVICE } from '../device-paths.ts';
import { NotConfiguredError } from '../errors.ts';
import { type GridConfig, gridSchema } from './grid-config.ts';
import { MAX_INTERVAL_HOURS, MIN_INTERVAL_HOURS } from './interval.ts';
import { loadJsonConfig, validateWith, type Validation } from './validate.ts';


/**
 * Hours between periodic backups: any number from one minute (1/60) to 20 days; fractions allowed
 * (0.5 = every 30 minutes), so a test image or an owner who wants it can be made due within minutes.
 */
export const intervalHoursSchema = z
  .number()
  .min(MIN_INTERVAL_HOURS, 'at least one minute (1/60 h)')
  .max(MAX_INTERVAL_HOURS, `at most ${MAX_INTERVAL_HOURS} h (20 days): leases last 31 days and are renewed by backup runs`);

export const DEVICE_CONFIG_FORMAT = 'sysback-device/1';

const port = z.number().int().min(1024, 'a port from 1024 to 65535').max(65535, 'a port from 1024 to 65535');
const portPair = z.object({ private: port, public: port }).strict();

export const deviceConfigSchema = z
  .object({
    format: z.literal(DEVICE_CONFIG_FORMAT),
    grid: gridSchema,
    transport: z.enum(['mount', 'webapi']),
    backup: z
      .object({
        // at most 20 days: leases (31 days) and the scheduled verify are renewed by backup runs, and
        // the hourly `--if-due` starts one only once a backup is due (docs/architecture.md)
        intervalHours: intervalHoursSchema.default(240),
        retention: z.number().int().min(1).max(1000).default(5),
        verifyIntervalDays: z.number().int().min(1).max(365).default(30),
        // at most 30: a lease not renewed inside Tahoe's 31 days lets the servers collect the shares
        leaseIntervalDays: z.number().int().min(1).max(30).default(7),
      })
      .strict()
      .default({ intervalHours: 240, retention: 5, verifyIntervalDays: 30, leaseIntervalDays: 7 }),
    tahoe: z
      .object({
        reservedSpace: z
          .string()
          .regex(/^\d+(\.\d+)?\s*([kKMGT]i?B?|B)?$/, 'a size such as 1G or 500MB')
          .default('1G'),
        offerStorage: z.boolean().default(true),
        webPorts: portPair.default({ private: 3456, public: 3457 }),
        sftpPorts: portPair.default({ private: 8022, public: 8023 }),
        serverWaitSeconds: z.number().int().min(1).max(24 * 3600).default(300),
        tubPort: port.default(3458),
      })
      .strict()
      .default({
        reservedSpace: '1G',
        offerStorage: true,
        webPorts: { private: 3456, public: 3457 },
        sftpPorts: { private: 8022, public: 8023 },
        serverWaitSeconds: 300,
        tubPort: 3458,
      }),
  })
  .strict()
  .superRefine((config, ctx) => {
    // runs even when other fields are wrong (every problem at once), so it checks what it reads
    const tahoe = (config as { tahoe?: { webPorts?: Record<string, unknown>; sftpPorts?: Record<string, unknown> } }).tahoe;
    const ports: [string, unknown][] = [
      ['tahoe.webPorts.private', tahoe?.webPorts?.private],
      ['tahoe.webPorts.public', tahoe?.webPorts?.public],
      ['tahoe.sftpPorts.private', tahoe?.sftpPorts?.private],
      ['tahoe.sftpPorts.public', tahoe?.sftpPorts?.public],
      ['tahoe.tubPort', (tahoe as { tubPort?: unknown } | undefined)?.tubPort],
    ];
    const seen = new Map<number, string>();
    for (const [where, value] of ports) {
      if (typeof value !== 'number') continue;
      const first = seen.get(value);
      if (first) {
        ctx.addIssue({ code: 'custom', path: where.split('.'), message: `port ${value} is already used by ${first}` });
      } else {
        seen.set(value, where);
      }
    }
  }, { when: (payload) => typeof payload.value === 'object' && payload.value !== null });

export type DeviceConfig = z.infer<typeof deviceConfigSchema>;
/** what a file may hold: the fields with defaults may be left out */
export type DeviceConfigInput = z.input<typeof deviceConfigSchema>;

export function validateDeviceConfig(input: unknown): Validation<DeviceConfig> {
  return validateWith(deviceConfigSchema, input);
}

/** The default device config for a grid: its transport, every other field at its default. */
export function deviceConfigFromGrid(grid: GridConfig, overrides: Partial<Omit<DeviceConfigInput, 'format' | 'grid'>> = {}): DeviceConfig {
  const result = validateDeviceConfig({ format: DEVICE_CONFIG_FORMAT, grid, transport: grid.transport, ...overrides });
  if (!result.ok) {
    throw new Error(`deviceConfigFromGrid: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
  return result.value;
}

/** Reads and validates ctx.root's /etc/sysback/sysback.json; NotConfiguredError when it is missing. */
export function readDeviceConfig(ctx: Pick<Context, 'path'>): DeviceConfig {
  const file = ctx.path(DEVICE.config);
  if (!existsSync(file)) {
    throw new NotConfiguredError(`no device config at ${file}`, 'pass --grid grid.json to seed it, or build the image with sysback build');
  }
  return loadJsonConfig(file, validateDeviceConfig);
}

/**
 * Writes the device config under ctx.root atomically (temp file + rename), mode 0600: it holds the
 * shared public directory's write cap, which only root on this router may read (the image's overlay
 * manifest gives the rendered file 0600 too; a rewrite on recovery or from --grid must not widen it).
 */
export async function writeDeviceConfig(ctx: Pick<Context, 'path'>, config: DeviceConfig): Promise<string> {
  const file = ctx.path(DEVICE.config);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

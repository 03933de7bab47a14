// Owns build.json: the per-image choices that are not the grid's (hostname, backup schedule, retention,
// Tahoe reserved space, extra packages, kernel command line, test-image switches). Every field has a
// default, so `--config` is optional; validated by one pure function that reports every problem.
import { z } from 'zod';
import { intervalHoursSchema } from '../core/config/device-config.ts';
import { validateWith, type Validation } from '../core/config/validate.ts';

export const buildConfigSchema = z
  .object({
    hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a hostname: lowercase letters, digits, dashes').default('sysback-router'),
    /** hours between periodic backups (DESIGN §2: every 240 h) */
    // at most 20 days: leases (31 days) and the scheduled verify are renewed by backup runs, and
    // the hourly `--if-due` starts one only once a backup is due (docs/architecture.md)
    intervalHours: intervalHoursSchema.default(240),
    /** backup generations kept */
    retention: z.number().int().min(1).max(1000).default(5),
    /** Tahoe's reserved_space for the private node's storage server */
    reservedSpace: z.string().regex(/^\d+(\.\d+)?\s*([kKMGT]i?B?|B)?$/, 'a size such as 1G or 500MB').default('1G'),
    /** overrides grid.json's transport for this device */
    transport: z.enum(['mount', 'webapi']).optional(),
    /** packages added to the image on top of the device's and the boot packages */
    extraPackages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name')).default([]),
    /** extra kernel command line words (after root=, console= and quiet) */
    kernelCmdline: z.array(z.string().regex(/^[^\s]+$/, 'one word, no spaces')).default([]),
    /** serial console the image talks on (the last console= is /dev/console) */
    serialConsole: z.string().regex(/^tty[A-Za-z0-9]+$/).default('ttyS0'),
    /** overlay layers laid in, in order (later layers win): "base" is sysback itself (also what `sysback install` lays on a running box), "image" what a whole image needs (fstab, hostname, network, root growth); "tor" is added when the grid listens over Tor */
    layers: z.array(z.string().regex(/^[a-z0-9-]+$/)).default(['base', 'image']),
    /** size of the root file system in MiB (grown to the disk at first boot) */
    rootSizeMiB: z.number().int().min(512).max(65536).default(2048),
    /** seconds systemd-boot shows its menu (the "Recover" entry); 0 hides it unless a key is held */
    bootMenuTimeout: z.number().int().min(0).max(60).default(3),
    /** SSH public keys (authorized_keys lines) that may log in as root from the first boot on */
    adminKeys: z.array(z.string().regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n]*)?$/, 'one OpenSSH public key line')).default([]),
    /** test images only: mask tor so a booted image never reaches the public Tor network */
    maskTor: z.boolean().default(false),
  })
  .strict();

export type BuildConfig = z.infer<typeof buildConfigSchema>;

export function validateBuildConfig(input: unknown): Validation<BuildConfig> {
  return validateWith(buildConfigSchema, input);
}

export function defaultBuildConfig(overrides: Partial<z.input<typeof buildConfigSchema>> = {}): BuildConfig {
  const result = validateBuildConfig(overrides);
  if (!result.ok) throw new Error(`bad build config: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return result.value;
}

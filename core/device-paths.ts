// Owns the device layout (DESIGN §3) and the one helper that resolves a device path under `root`.
// Contract: every path the device code touches comes from here; `underRoot` refuses any path that
// would leave `root` (`..`, or an absolute path smuggled into a relative one), so the same flow code
// runs on the device (`/`), in the builder's staging tree and in a test's temp dir.
import path from 'node:path';
import { UserError } from './errors.ts';

export type Area = 'private' | 'public';

/** Device paths, as seen on the device (absolute, rooted at `/`). */
export const DEVICE = {
  app: '/usr/lib/sysback/sysback.mjs',
  bin: '/usr/bin/sysback',
  configDir: '/etc/sysback',
  config: '/etc/sysback/sysback.json',
  filesList: '/etc/sysback/files.txt',
  answers: '/etc/sysback/answers.json',
  stateDir: '/var/lib/sysback',
  state: '/var/lib/sysback/state.json',
  lock: '/var/lib/sysback/backup.lock',
  recoveryCard: '/var/lib/sysback/recovery-card.txt',
  /** marker: the next boot shows the card above the console's login prompt (firstboot/card-at-login.ts) */
  cardAtLogin: '/var/lib/sysback/recovery-card.at-login',
  /** the issue snippet agetty prints, reached through /etc/issue.d/50-sysback-recovery-card.issue */
  cardIssue: '/run/sysback/recovery-card.issue',
  tahoe: (area: Area) => `/var/lib/sysback/tahoe/${area}`,
  mount: (area: Area) => `/var/lib/sysback/mnt/${area}`,
  cronSpool: '/var/spool/cron',
  rootCrontab: '/var/spool/cron/crontabs/root',
  staging: '/var/lib/sysback/staging',
} as const;

/**
 * Resolves `devicePath` (absolute on the device, or relative to its root) under `root`.
 * Throws when the result would not be inside `root`.
 */
export function underRoot(root: string, devicePath: string): string {
  const absRoot = path.resolve(root);
  const relative = path.posix.normalize(`/${devicePath}`).replace(/^\/+/, '');
  const resolved = path.resolve(absRoot, relative);
  if (resolved !== absRoot && !resolved.startsWith(absRoot.endsWith('/') ? absRoot : `${absRoot}/`)) {
    throw new UserError(`path ${JSON.stringify(devicePath)} escapes the root ${absRoot}`);
  }
  if (devicePath.split('/').includes('..')) {
    throw new UserError(`path ${JSON.stringify(devicePath)} contains "..", which is not allowed in a device path`);
  }
  return resolved;
}

/** The inverse: the device path of a host path inside `root`. */
export function devicePathOf(root: string, hostPath: string): string {
  const rel = path.relative(path.resolve(root), path.resolve(hostPath));
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UserError(`${hostPath} is not inside ${root}`);
  return `/${rel}`;
}

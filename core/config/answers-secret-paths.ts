// Owns the list of files that held an answers secret, so no backup ever saves them (issue 11,
// "no password at rest"): an answers file and a `passwordFile` may live anywhere (`--answers
// /root/answers.json`, `"passwordFile": "/root/pw"`), and files.txt may well list that place.
// Contract:
// - every answers file and password file this process read (`noteSecretFile`, called by
//   core/config/answers.ts when it reads one) is excluded from every backup this process makes: the
//   flow's first backup runs before `removeAnswersSecret`;
// - `recordSecretPaths` (called by `removeAnswersSecret`, once the flow succeeded) keeps the device
//   paths of what is left on disk (a passwordFile outside /etc/sysback is the owner's and stays) in
//   SECRET_PATHS_FILE, so every later backup (cron, another process) excludes them too;
// - `secretDevicePaths` is the union of both, as device paths, for backup/files-list.ts. A file
//   outside the device's root (a laptop's `--root`) cannot be in the root's backups and is ignored.
// The record holds paths only, never a secret; it is sysback's own state (never backed up itself).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write.ts';
import type { Context } from '../context.ts';
import { DEVICE } from '../device-paths.ts';

/** Device paths of files that held (or hold) an answers secret, one per line. */
export const SECRET_PATHS_FILE = `${DEVICE.stateDir}/secret-paths.txt`;
/** The record and its atomic-write temporaries, as globs (backup/files-list.ts never saves them). */
export const SECRET_PATHS_GLOBS: readonly string[] = [SECRET_PATHS_FILE, `${DEVICE.stateDir}/.secret-paths.txt.*`];

const noted = new Set<string>();

/** Notes a host path that holds (or held) a secret this process read. */
export function noteSecretFile(hostPath: string): void {
  noted.add(path.resolve(hostPath));
}

/** For tests: forgets what this process noted. */
export function forgetNotedSecretFiles(): void {
  noted.clear();
}

function deviceOf(root: string, hostPath: string): string | undefined {
  const rel = path.relative(path.resolve(root), path.resolve(hostPath));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return `/${rel.split(path.sep).join('/')}`;
}

function recorded(ctx: Pick<Context, 'path'>): string[] {
  const file = ctx.path(SECRET_PATHS_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/'));
}

/** Keeps `hostPaths` (files left on disk that hold a secret) for every later backup. */
export async function recordSecretPaths(ctx: Pick<Context, 'path' | 'root'>, hostPaths: readonly string[]): Promise<void> {
  const fresh = hostPaths.map((p) => deviceOf(ctx.root, p)).filter((p): p is string => p !== undefined);
  const all = [...new Set([...recorded(ctx), ...fresh])].sort();
  if (all.length === 0 || fresh.every((p) => recorded(ctx).includes(p))) return;
  mkdirSync(path.dirname(ctx.path(SECRET_PATHS_FILE)), { recursive: true, mode: 0o700 });
  await writeFileAtomic(ctx.path(SECRET_PATHS_FILE), all.map((p) => `${p}\n`).join(''), { mode: 0o600 });
}

/** Device paths no backup of this root may save: what this process read, and what was recorded. */
export function secretDevicePaths(ctx: Pick<Context, 'path' | 'root'>): string[] {
  const mine = [...noted].map((p) => deviceOf(ctx.root, p)).filter((p): p is string => p !== undefined);
  return [...new Set([...mine, ...recorded(ctx)])].sort();
}

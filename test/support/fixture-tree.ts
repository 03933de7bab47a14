// A realistic backup fixture laid under a device root (a simulated router's root, or a temp dir):
// files with distinct modes (0600, 0640, 0755, setgid and sticky directories), owners other than root
// (uid 1000, gid 101), absolute, relative and dangling symlinks, one 50 MB file of incompressible
// data, root's crontab (/var/spool/cron/crontabs/root, mode 0600) and /etc/sysback/files.txt listing
// the fixture's roots. Contract: every path it writes sits under FIXTURE_ROOTS (so a tree comparison
// over those roots covers the whole fixture); mtimes are fixed (so a restored tree compares equal);
// the crontab keeps any lines already there (a configured router's periodic-backup entry) and adds
// one of its own; `touchFixture` changes one file's content so the next backup has something new.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, open, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { underRoot } from '../../core/device-paths.ts';

/** The device paths files.txt lists: the comparison covers these trees. */
export const FIXTURE_ROOTS = ['/etc/fixture', '/home/user', '/root/.ssh', '/var/spool/cron'] as const;
export const FIXTURE_MTIME = 1_700_000_000;
export const BIG_FILE = '/home/user/big.bin';
export const CHANGING_FILE = '/etc/fixture/changing.conf';

export interface FixtureOptions {
  /** size of the incompressible file in MiB (default 50; 0 leaves it out) */
  bigMiB?: number;
}

export interface Fixture {
  root: string;
  /** the files.txt written (also at /etc/sysback/files.txt) */
  filesTxt: string;
}

export async function writeFixtureTree(root: string, options: FixtureOptions = {}): Promise<Fixture> {
  const at = (devicePath: string) => underRoot(root, devicePath);
  for (const dir of ['/etc/fixture/network', '/etc/fixture/ssh', '/etc/fixture/private', '/etc/sysback', '/home/user/.config', '/root/.ssh', '/var/spool/cron/crontabs']) {
    await mkdir(at(dir), { recursive: true });
  }
  await writeFile(at('/etc/fixture/hostname'), 'router-fixture\n');
  await writeFile(at('/etc/fixture/network/interfaces'), 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n');
  await writeFile(at('/etc/fixture/ssh/ssh_host_ed25519_key'), '-----BEGIN OPENSSH PRIVATE KEY-----\nfixture\n-----END OPENSSH PRIVATE KEY-----\n');
  await chmod(at('/etc/fixture/ssh/ssh_host_ed25519_key'), 0o600);
  await writeFile(at('/etc/fixture/empty'), '');
  await writeFile(at('/etc/fixture/run-me.sh'), '#!/bin/sh\necho hello\n');
  await chmod(at('/etc/fixture/run-me.sh'), 0o755);
  await writeFile(at(CHANGING_FILE), 'generation=0\n');
  await writeFile(at('/etc/fixture/private/secret.txt'), 'only root and group 101\n');
  await chmod(at('/etc/fixture/private/secret.txt'), 0o640);
  await chown(at('/etc/fixture/private/secret.txt'), 0, 101);
  await chmod(at('/etc/fixture/private'), 0o2750);
  await rm(at('/etc/fixture/localtime'), { force: true });
  await symlink('/usr/share/zoneinfo/Europe/Madrid', at('/etc/fixture/localtime'));
  await rm(at('/etc/fixture/ssh/relative-link'), { force: true });
  await symlink('../network/interfaces', at('/etc/fixture/ssh/relative-link'));
  await rm(at('/etc/fixture/dangling'), { force: true });
  await symlink('/does/not/exist', at('/etc/fixture/dangling'));

  await writeFile(at('/home/user/.config/settings.json'), '{"theme":"dark"}\n');
  await chmod(at('/home/user/.config/settings.json'), 0o640);
  await writeFile(at('/home/user/notes.txt'), 'a user file\n');
  const bigMiB = options.bigMiB ?? 50;
  if (bigMiB > 0) {
    const big = await open(at(BIG_FILE), 'w');
    for (let i = 0; i < bigMiB; i++) await big.write(randomBytes(1024 * 1024));
    await big.close();
  }
  for (const p of ['/home/user', '/home/user/.config', '/home/user/.config/settings.json', '/home/user/notes.txt', ...(bigMiB > 0 ? [BIG_FILE] : [])]) {
    await chown(at(p), 1000, 1000);
  }

  await writeFile(at('/root/.ssh/authorized_keys'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixture fixture@test\n', { mode: 0o600 });
  await chmod(at('/root/.ssh/authorized_keys'), 0o600);
  await chmod(at('/root/.ssh'), 0o700);

  const crontab = at('/var/spool/cron/crontabs/root');
  const existing = existsSync(crontab) ? readFileSync(crontab, 'utf8') : '';
  const ours = '# fixture: a job of the router owner\n3 4 * * * /etc/fixture/run-me.sh\n';
  await writeFile(crontab, existing.includes(ours) ? existing : existing + ours);
  await chmod(crontab, 0o600);
  await chown(at('/var/spool/cron/crontabs'), 0, 101);
  await chmod(at('/var/spool/cron/crontabs'), 0o1730);

  const filesTxt = ['# fixture: what this router backs up', ...FIXTURE_ROOTS, ''].join('\n');
  await writeFile(at('/etc/sysback/files.txt'), filesTxt);

  // fixed mtimes, deepest first so a directory keeps its own after its children were touched
  const paths: string[] = [];
  const walk = async (devicePath: string) => {
    paths.push(devicePath);
    const stat = await lstat(at(devicePath));
    if (!stat.isDirectory()) return;
    for (const name of await readdir(at(devicePath))) await walk(path.posix.join(devicePath, name));
  };
  for (const r of FIXTURE_ROOTS) await walk(r);
  for (const p of paths.sort().reverse()) {
    if (!(await lstat(at(p))).isSymbolicLink()) await utimes(at(p), FIXTURE_MTIME + p.length, FIXTURE_MTIME + p.length);
  }
  return { root, filesTxt };
}

/** Changes CHANGING_FILE's content (and so its size, mtime, ctime): the next backup is a new one. */
export async function touchFixture(root: string, generation: number | string): Promise<void> {
  await writeFile(underRoot(root, CHANGING_FILE), `generation=${generation}\n`);
}

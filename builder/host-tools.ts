// Owns the host programs the image builder and its tests need (qemu, OVMF, mtools, dosfstools, sfdisk,
// socat, e2fsprogs, mmdebstrap, systemd-nspawn) and installing the Debian packages that provide them,
// with apt, when they are missing. Contract: `ensureHostTools` installs only what is missing, once, and
// says what it installs; without root it throws a UserError naming the apt command to run.
// By hand: `npx tsx scripts/host-tools.ts [--check]` (that script only calls this module).
import { existsSync } from 'node:fs';
import { UserError } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import type { Runner } from '../core/runner.ts';

/** program (or file) -> the Debian package that provides it */
export const HOST_TOOLS: Readonly<Record<string, string>> = {
  mmdebstrap: 'mmdebstrap',
  'systemd-nspawn': 'systemd-container',
  'qemu-system-x86_64': 'qemu-system-x86',
  '/usr/share/OVMF/OVMF_CODE_4M.fd': 'ovmf',
  mcopy: 'mtools',
  'mkfs.vfat': 'dosfstools',
  sfdisk: 'fdisk',
  socat: 'socat',
  mke2fs: 'e2fsprogs',
  tune2fs: 'e2fsprogs',
  sshfs: 'sshfs',
  rsync: 'rsync',
  fusermount3: 'fuse3',
  'ssh-keygen': 'openssh-client',
};

/** What each job needs. */
export const TOOLSETS = {
  rootfs: ['mmdebstrap'],
  disk: ['mke2fs', 'tune2fs', 'mcopy', 'mkfs.vfat', 'sfdisk'],
  nspawn: ['systemd-nspawn'],
  qemu: ['qemu-system-x86_64', '/usr/share/OVMF/OVMF_CODE_4M.fd', 'socat'],
  /** the `mount` transport's contract tests: sshfs + rsync over Tahoe's SFTP frontend */
  transport: ['sshfs', 'rsync', 'fusermount3', 'ssh-keygen'],
} as const;

async function present(runner: Runner, tool: string): Promise<boolean> {
  if (tool.startsWith('/')) return existsSync(tool);
  // sbin programs are not on every PATH (non-root shells)
  return (await runner.which(tool)) !== undefined || existsSync(`/usr/sbin/${tool}`) || existsSync(`/sbin/${tool}`);
}

export async function missingTools(runner: Runner, tools: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of tools) if (!(await present(runner, tool))) missing.push(tool);
  return missing;
}

export function packagesFor(tools: readonly string[]): string[] {
  return [...new Set(tools.map((t) => HOST_TOOLS[t] ?? t))].sort();
}

let aptUpdated = false;

/** Installs the packages providing `tools` that are missing. Returns the packages installed. */
export async function ensureHostTools(runner: Runner, log: Log, tools: readonly string[]): Promise<string[]> {
  const missing = await missingTools(runner, tools);
  if (missing.length === 0) return [];
  const packages = packagesFor(missing);
  const command = `apt-get install --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new UserError(`missing host programs: ${missing.join(', ')}`, `run as root: ${command}`);
  }
  await log.step(`installing host packages: ${packages.join(' ')}`, async () => {
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    if (!aptUpdated) {
      await runner.run(['apt-get', 'update', '-q'], { env, timeoutMs: 600_000 });
      aptUpdated = true;
    }
    await runner.run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages], {
      env,
      timeoutMs: 1_200_000,
      hint: `install them by hand: ${command}`,
    });
  });
  const still = await missingTools(runner, tools);
  if (still.length > 0) throw new UserError(`still missing after apt-get: ${still.join(', ')}`, `check ${command}`);
  return packages;
}

/** Every program any job needs. */
export const ALL_HOST_TOOLS: readonly string[] = [...new Set(Object.values(TOOLSETS).flat())];

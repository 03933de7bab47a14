// Owns the target root filesystem: Debian trixie with every package the device needs, built with
// mmdebstrap and cached outside the repository, keyed by everything that decides its contents.
// Contract: `ensureTargetRootfs()` returns the path of a complete tree; a tree is complete only when
// its `.sysback-rootfs.json` stamp exists (written last), so a half-written cache is rebuilt, never used.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../core/context.ts';
import { buildCachedTree } from './cache-build.ts';

export const SUITE = 'trixie';
export const MIRROR = 'http://deb.debian.org/debian';

/** The programs the device runs (DESIGN §6), plus what trixie's tahoe-lafs package forgets to depend on. */
export const DEVICE_PACKAGES: readonly string[] = [
  'tahoe-lafs', 'tor', 'rsync', 'sshfs', 'fuse3', 'nodejs', 'cron', 'openssh-client', 'systemd-sysv',
  'inotify-tools', 'python3-txtorcon',
  // tahoe-lafs 1.20.0-6 declares too few dependencies:
  'python3-six', 'python3-legacy-cgi', 'python3-yaml', 'python3-zfec', 'python3-foolscap', 'python3-twisted',
  'python3-treq', 'python3-klein', 'python3-eliot', 'python3-cbor2', 'python3-collections-extended',
  'python3-filelock', 'python3-nacl', 'python3-netifaces', 'python3-psutil', 'python3-pycddl',
  'python3-pyutil', 'magic-wormhole',
  // an independent OpenPGP implementation, used by tests to prove identity files are standard
  'sqop',
];

export const STAMP = '.sysback-rootfs.json';

export interface RootfsSpec {
  suite: string;
  mirror: string;
  variant: 'apt';
  packages: readonly string[];
}

export function defaultSpec(packages: readonly string[] = DEVICE_PACKAGES): RootfsSpec {
  return { suite: SUITE, mirror: MIRROR, variant: 'apt', packages: [...packages].sort() };
}

/** The cache key: a digest of the spec, so a changed package list gets a new tree. */
export function specKey(spec: RootfsSpec): string {
  const canonical = JSON.stringify({ ...spec, packages: [...spec.packages].sort() });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

export function cacheRoot(): string {
  return process.env.SYSBACK_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'sysback');
}

export function rootfsPath(spec: RootfsSpec): string {
  return path.join(cacheRoot(), 'rootfs', `${spec.suite}-${specKey(spec)}`);
}

export function isComplete(dir: string): boolean {
  return existsSync(path.join(dir, STAMP));
}

export interface RootfsResult {
  path: string;
  reused: boolean;
  seconds: number;
}

/** The argv that builds `spec` into `target` (pure; printed by --dry-run). */
export function mmdebstrapArgv(spec: RootfsSpec, target: string): string[] {
  return [
    'mmdebstrap', '--mode=root', `--variant=${spec.variant}`, '--quiet',
    `--include=${spec.packages.join(',')}`,
    // Keep the device's sources identical for every build (image-boot notes, pitfall 8).
    '--components=main',
    // No daemon may start inside the build chroot.
    '--customize-hook=rm -f "$1"/etc/machine-id; touch "$1"/etc/machine-id',
    spec.suite, target, `deb ${spec.mirror} ${spec.suite} main`,
  ];
}

/**
 * Builds the tree unless a complete one is cached. `run` executes an argv (the caller's process gateway),
 * so this module stays free of process handling.
 */
export async function ensureTargetRootfs(
  run: (argv: string[]) => Promise<void>,
  spec: RootfsSpec = defaultSpec(),
  log: (line: string) => void = () => {},
): Promise<RootfsResult> {
  const dir = rootfsPath(spec);
  return buildCachedTree(
    dir,
    STAMP,
    async (partial) => {
      log(`building the ${spec.suite} root filesystem (${spec.packages.length} packages) in ${dir}`);
      await run(mmdebstrapArgv(spec, partial));
    },
    () => JSON.stringify({ ...spec, key: specKey(spec), built: new Date().toISOString() }, null, 2) + '\n',
    { log },
  );
}

export function readStamp(dir: string): (RootfsSpec & { key: string; built: string }) | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, STAMP), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The default tree for this host, built when missing through `ctx`'s process gateway: what the host
 * app gives the local grid (grid/local-grid.ts TargetRootfsSource) when the host has no tahoe.
 */
export async function defaultTargetRootfs(ctx: Pick<Context, 'runner' | 'log'>): Promise<string> {
  const result = await ensureTargetRootfs(
    async (argv) => {
      await ctx.runner.run(argv, { stdio: 'inherit', hint: 'install mmdebstrap (apt-get install mmdebstrap), or run npm run rootfs' });
    },
    undefined,
    (line) => ctx.log.info(line),
  );
  return result.path;
}
